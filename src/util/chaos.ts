import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Fault injection for crash tests: RUNBOOK_CHAOS makes this worker kill itself with SIGKILL at a
 * chosen point, once — as a crash would, with no chance to report anything to Temporal.
 *   before:<activity>       as the activity starts, before its body runs
 *   after:<activity>        right after the activity's body finished, before its result is reported
 *   during:<activity>:<ms>  that many milliseconds into the activity (mid-dump, mid-restore)
 *   beat:<activity>:<n>     right after its n-th heartbeat (a batch loop killed between batches)
 * `<activity>#<k>` picks its k-th execution on this worker (default the first), e.g.
 * `after:pgQuery#3`. Off unless the variable is set; the worker says so loudly when it is.
 */

export interface ChaosPoint {
  when: 'before' | 'after' | 'during' | 'beat';
  activity: string;
  /** Which execution of the activity on this worker (1 = the first). */
  occurrence: number;
  /** Milliseconds for `during`, the heartbeat count for `beat`. */
  delayMs: number;
}

export function parseChaos(spec: string): ChaosPoint {
  const m = /^(before|after|during|beat):([A-Za-z]+)(?:#([1-9]\d*))?(?::(\d+))?$/.exec(spec.trim());
  const needsNumber = m?.[1] === 'during' || m?.[1] === 'beat';
  if (!m || needsNumber !== (m[4] !== undefined))
    throw new Error(
      `RUNBOOK_CHAOS="${spec}" is not "before:<activity>", "after:<activity>", "during:<activity>:<ms>" or "beat:<activity>:<n>" (each optionally <activity>#<k>).`,
    );
  return {
    when: m[1] as ChaosPoint['when'],
    activity: m[2]!,
    occurrence: Number(m[3] ?? 1),
    delayMs: Number(m[4] ?? 0),
  };
}

export function chaosInterceptors(
  spec: string,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): ActivityInterceptorsFactory[] {
  const point = parseChaos(spec);
  let fired = false;
  let seen = 0;
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          if (fired || ctx.info.activityType !== point.activity || ++seen < point.occurrence) return next(input);
          fired = true;
          if (point.when === 'before') {
            kill();
            return new Promise<never>(() => undefined); // the process is gone; nothing of the body runs
          }
          if (point.when === 'during') {
            setTimeout(kill, point.delayMs);
            return next(input);
          }
          if (point.when === 'beat') {
            const writable = ctx as unknown as { heartbeat: (details?: unknown) => void }; // the Context.current() of this activity
            const beat = writable.heartbeat;
            let beats = 0;
            writable.heartbeat = (details) => {
              beat(details);
              if (++beats === point.delayMs) kill();
            };
            return next(input);
          }
          const result = await next(input);
          kill();
          return result;
        },
      },
    }),
  ];
}
