import { Context } from '@temporalio/activity';

export type Progress = Record<string, unknown>;

/** At most this long between two progress heartbeats (activity-options.ts: a 10 s heartbeat timeout, or the run's own). */
const EVERY_MS = 2_000;
const POLL_MS = 250;

export interface Heartbeats {
  /** Sends `details` now (e.g. after each batch). */
  beat(details: Progress): void;
  stop(): void;
}

/**
 * Heartbeats for a long activity: whatever the caller beats, plus `progress()` sent whenever
 * 2 s pass without a beat, so a slow stretch (a big table, a publisher starting on a loaded host)
 * is never taken for a dead worker. With `firstSign`, progress is also sent the moment it first
 * holds (the operator sees a dump start writing). Outside an activity it does nothing.
 */
export function startHeartbeats(progress: () => Progress | Promise<Progress>, opts: { firstSign?: (p: Progress) => boolean } = {}): Heartbeats {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return { beat: () => undefined, stop: () => undefined };
  }
  return heartbeatLoop((details) => ctx.heartbeat(details), progress, opts);
}

/** The loop of `startHeartbeats`, sending through `send` (apart so that it can be tested without an activity). */
export function heartbeatLoop(send: (details: Progress) => void, progress: () => Progress | Promise<Progress>, opts: { firstSign?: (p: Progress) => boolean } = {}): Heartbeats {
  let last = Date.now();
  let signalled = opts.firstSign === undefined;
  let asking = false; // one progress() at a time: it may read a directory of thousands of files
  let stopped = false; // a progress() still running when the work ends must not beat after it
  const beat = (details: Progress) => {
    last = Date.now();
    send(details);
  };
  const timer = setInterval(() => {
    if (asking || (signalled && Date.now() - last < EVERY_MS)) return;
    asking = true;
    Promise.resolve()
      .then(progress)
      .then((p) => {
        const first = !signalled && opts.firstSign!(p);
        signalled ||= first;
        if (!stopped && (first || Date.now() - last >= EVERY_MS)) beat(p);
      }, () => undefined)
      .finally(() => (asking = false));
  }, POLL_MS);
  timer.unref();
  return {
    beat,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** `work`, heartbeating with `progress` until it settles. */
export async function withHeartbeats<T>(work: Promise<T>, progress: () => Progress | Promise<Progress>, opts: { firstSign?: (p: Progress) => boolean } = {}): Promise<T> {
  const beats = startHeartbeats(progress, opts);
  try {
    return await work;
  } finally {
    beats.stop();
  }
}
