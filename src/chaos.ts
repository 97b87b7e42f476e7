import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Fault injection for crash tests: RUNBOOK_CHAOS makes this worker kill itself with SIGKILL at a
 * chosen point, once — as a crash would, with no chance to report anything to Temporal.
 *   after:<activity>        right after the activity's body finished, before its result is reported
 *   during:<activity>:<ms>  that many milliseconds into the activity (mid-dump, mid-restore)
 *   beat:<activity>:<n>     right after its n-th heartbeat (a batch loop killed between batches)
 * Off unless the variable is set; the worker says so loudly when it is.
 */

export interface ChaosPoint {
  when: 'after' | 'during' | 'beat';
  activity: string;
  /** Milliseconds for `during`, the heartbeat count for `beat`. */
  delayMs: number;
}

export function parseChaos(spec: string): ChaosPoint {
  const m = /^(after|during|beat):([A-Za-z]+)(?::(\d+))?$/.exec(spec.trim());
  if (!m || (m[1] !== 'after' && m[3] === undefined)) throw new Error(`RUNBOOK_CHAOS="${spec}" is not "after:<activity>", "during:<activity>:<ms>" or "beat:<activity>:<n>".`);
  return { when: m[1] as ChaosPoint['when'], activity: m[2]!, delayMs: Number(m[3] ?? 0) };
}

export function chaosInterceptors(spec: string, kill: () => void = () => process.kill(process.pid, 'SIGKILL')): ActivityInterceptorsFactory[] {
  const point = parseChaos(spec);
  let fired = false;
  return [(ctx) => ({
    inbound: {
      async execute(input, next) {
        if (fired || ctx.info.activityType !== point.activity) return next(input);
        fired = true;
        if (point.when === 'during') {
          setTimeout(kill, point.delayMs);
          return next(input);
        }
        if (point.when === 'beat') {
          const ctx = Context.current() as unknown as { heartbeat: (details?: unknown) => void };
          const beat = ctx.heartbeat;
          let beats = 0;
          ctx.heartbeat = (details) => {
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
  })];
}
