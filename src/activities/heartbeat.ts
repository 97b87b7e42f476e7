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
 * holds (the operator sees a dump start writing). With `atStart`, `progress()` is also sent at once:
 * a long command's first beat then marks it started (a crash test's `beat:<activity>:1` lands while
 * the command runs, however short the fixture makes it). Outside an activity it does nothing.
 */
export interface HeartbeatOptions {
  firstSign?: (p: Progress) => boolean;
  atStart?: boolean;
}

export function startHeartbeats(progress: () => Progress | Promise<Progress>, opts: HeartbeatOptions = {}): Heartbeats {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return { beat: () => undefined, stop: () => undefined };
  }
  return heartbeatLoop((details) => ctx.heartbeat(details), progress, opts);
}

/**
 * One heartbeat now, marking a point inside a step (the swap committed, its settings not yet put
 * back): the step's retry finds the work there, and a crash test's `beat:<activity>:1` lands there.
 * Outside an activity it does nothing.
 */
export function beatOnce(details: Progress): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}

/** The loop of `startHeartbeats`, sending through `send` (apart so that it can be tested without an activity). */
export function heartbeatLoop(
  send: (details: Progress) => void,
  progress: () => Progress | Promise<Progress>,
  opts: HeartbeatOptions = {},
): Heartbeats {
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
      .then(
        (p) => {
          const first = !signalled && opts.firstSign!(p);
          signalled ||= first;
          if (!stopped && (first || Date.now() - last >= EVERY_MS)) beat(p);
        },
        () => undefined,
      )
      .finally(() => (asking = false));
  }, POLL_MS);
  timer.unref();
  if (opts.atStart) {
    asking = true;
    Promise.resolve()
      .then(progress)
      .then(
        (p) => {
          if (!stopped) beat(p);
        },
        () => undefined,
      )
      .finally(() => (asking = false));
  }
  return {
    beat,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** `work`, heartbeating with `progress` until it settles. */
export async function withHeartbeats<T>(
  work: Promise<T>,
  progress: () => Progress | Promise<Progress>,
  opts: HeartbeatOptions = {},
): Promise<T> {
  const beats = startHeartbeats(progress, opts);
  try {
    return await work;
  } finally {
    beats.stop();
  }
}
