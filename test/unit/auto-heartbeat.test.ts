import type { Context } from '@temporalio/activity';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { autoHeartbeatInterceptors } from '../../src/auto-heartbeat.js';
import { chaosInterceptors } from '../../src/util/chaos.js';

// The interceptor on a stand-in context: what reaches the SDK's heartbeat is what the server keeps.
function activity(
  info: { heartbeatTimeoutMs?: number; heartbeatDetails?: unknown },
  extra: ReturnType<typeof chaosInterceptors> = [],
) {
  const sent: unknown[] = [];
  const ctx = {
    info: { activityType: 'pgDumpBackup', ...info },
    heartbeat: (d?: unknown) => sent.push(d),
  } as unknown as Context;
  const inbound = [...autoHeartbeatInterceptors(), ...extra].map((f) => f(ctx).inbound!);
  const run = (body: (ctx: Context) => Promise<unknown>) => {
    let next = () => body(ctx);
    for (const i of [...inbound].reverse()) {
      const inner = next;
      next = () => i.execute!({ args: [], headers: {} }, inner);
    }
    return next();
  };
  return { sent, run };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('automatic heartbeats of every activity', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('beats four times per heartbeat timeout while the activity runs, and stops when it ends', async () => {
    const { sent, run } = activity({ heartbeatTimeoutMs: 10_000 });
    const done = run(() => sleep(11_000));
    await vi.advanceTimersByTimeAsync(11_000);
    await done;
    expect(sent).toHaveLength(4); // at 2.5, 5, 7.5 and 10 s
    await vi.advanceTimersByTimeAsync(30_000);
    expect(sent).toHaveLength(4);
  });

  it("re-sends the activity's own last progress, never an empty beat over it", async () => {
    const { sent, run } = activity({ heartbeatTimeoutMs: 10_000 });
    const done = run(async (ctx) => {
      await sleep(1_000);
      ctx.heartbeat({ files: 3 });
      await sleep(5_000);
    });
    await vi.advanceTimersByTimeAsync(6_000);
    await done;
    expect(sent).toEqual([{ files: 3 }, { files: 3 }, { files: 3 }]);
  });

  it("keeps the earlier attempt's progress alive until the retry reports its own", async () => {
    const { sent, run } = activity({ heartbeatTimeoutMs: 4_000, heartbeatDetails: { batch: 10 } });
    const done = run(() => sleep(2_500));
    await vi.advanceTimersByTimeAsync(2_500);
    await done;
    expect(sent).toEqual([{ batch: 10 }, { batch: 10 }]);
  });

  it('leaves an activity without a heartbeat timeout alone', async () => {
    const { sent, run } = activity({});
    const done = run(() => sleep(60_000));
    await vi.advanceTimersByTimeAsync(60_000);
    await done;
    expect(sent).toEqual([]);
  });

  it("lets the chaos point beat:<activity>:<n> count only the activity's own beats", async () => {
    const kill = vi.fn();
    const { sent, run } = activity({ heartbeatTimeoutMs: 1_000 }, chaosInterceptors('beat:pgDumpBackup:2', kill));
    const done = run(async (ctx) => {
      ctx.heartbeat({ n: 1 });
      await sleep(3_000);
      expect(kill).not.toHaveBeenCalled();
      ctx.heartbeat({ n: 2 });
    });
    await vi.advanceTimersByTimeAsync(3_000);
    await done;
    expect(kill).toHaveBeenCalledTimes(1);
    expect(sent.length).toBeGreaterThan(10);
  });
});
