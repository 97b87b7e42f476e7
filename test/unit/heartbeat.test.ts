import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { heartbeatLoop, type Progress, withHeartbeats } from '../../src/activities/heartbeat.js';

// Fake timers: the loop's 2 s cadence is checked by moving the clock, not by waiting.
describe('heartbeats of a long activity', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends progress every 2 s while nothing else beats, and nothing sooner', async () => {
    const sent: Progress[] = [];
    let n = 0;
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      () => ({ n: ++n }),
    );
    await vi.advanceTimersByTimeAsync(1_900);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(4_200);
    expect(sent.length).toBe(3);
    beats.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent.length).toBe(3);
  });

  it("counts the caller's own beats: no keep-alive until 2 s after the last one", async () => {
    const sent: Progress[] = [];
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      () => ({ keepAlive: true }),
    );
    for (let batch = 1; batch <= 5; batch++) {
      await vi.advanceTimersByTimeAsync(1_500);
      beats.beat({ batch });
    }
    expect(sent).toEqual([1, 2, 3, 4, 5].map((batch) => ({ batch })));
    await vi.advanceTimersByTimeAsync(2_300); // a slow batch: the keep-alive speaks for it
    expect(sent.at(-1)).toEqual({ keepAlive: true });
    beats.stop();
  });

  it('sends at once when the first sign of progress shows (a dump starts writing)', async () => {
    const sent: Progress[] = [];
    let bytes = 0;
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      () => ({ bytesWritten: bytes }),
      { firstSign: (p) => (p.bytesWritten as number) > 0 },
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([]);
    bytes = 4096;
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toEqual([{ bytesWritten: 4096 }]);
    bytes = 8192;
    await vi.advanceTimersByTimeAsync(1_000); // the first sign was sent: back to every 2 s
    expect(sent.length).toBe(1);
    beats.stop();
  });

  it('with atStart, sends progress as the command starts, then every 2 s (a restore shorter than 2 s still beats once)', async () => {
    const sent: Progress[] = [];
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      () => ({ phase: 'restore' }),
      { atStart: true },
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([{ phase: 'restore' }]);
    await vi.advanceTimersByTimeAsync(1_900);
    expect(sent.length).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent.length).toBe(2);
    beats.stop();
  });

  it('never asks for progress again while the last ask is still running, and survives a failed ask', async () => {
    const sent: Progress[] = [];
    let asks = 0;
    let running = 0;
    let most = 0;
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      async () => {
        asks++;
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 3_000)); // a directory of thousands of files
        running--;
        if (asks === 1) throw new Error('the directory vanished');
        return { asks };
      },
    );
    await vi.advanceTimersByTimeAsync(12_000);
    beats.stop();
    expect(most).toBe(1);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent[0]).toEqual({ asks: 2 });
  });

  it('sends nothing once stopped, even from a progress read still running when the work ended', async () => {
    const sent: Progress[] = [];
    const beats = heartbeatLoop(
      (d) => sent.push(d),
      () => new Promise<Progress>((r) => setTimeout(() => r({ late: true }), 1_000)),
    );
    await vi.advanceTimersByTimeAsync(2_100); // the read has begun
    beats.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent).toEqual([]);
  });

  it('outside an activity, withHeartbeats just awaits the work', async () => {
    vi.useRealTimers();
    await expect(withHeartbeats(Promise.resolve(42), () => ({}))).resolves.toBe(42);
    await expect(withHeartbeats(Promise.reject(new Error('pg_dump failed')), () => ({}))).rejects.toThrow(
      'pg_dump failed',
    );
  });
});
