import { proxyActivities } from '@temporalio/workflow';
import type { Activities, TargetInfo } from '../activities/index.js';
import type { RunbookInput } from '../contract/types.js';

/**
 * How long a step may go without a heartbeat before the server takes its worker for dead and
 * retries it elsewhere. Every step heartbeats while it runs (the worker's auto-heartbeat,
 * src/auto-heartbeat.ts), so this bounds the time a step lost with a killed worker waits (the
 * goal is a retry elsewhere within 15 s), not how long a step may take.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT = '10 seconds';

/**
 * Activity proxies with explicit timeouts and bounded retries (Temporal retries forever by
 * default). Host-local steps go to the target's own task queue when it names one. Long steps
 * (dumps, restores, snapshots) get hours to run; they heartbeat with progress every 2 s as well.
 */
export function activitiesFor(input: RunbookInput, opts: { taskQueue?: string; long?: boolean } = {}) {
  return proxyActivities<Activities>({
    taskQueue: opts.taskQueue,
    startToCloseTimeout: opts.long ? '4 hours' : (input.retry?.activityTimeout ?? '2 minutes'),
    heartbeatTimeout: input.retry?.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
    // A host-local queue with no worker must not hang the run forever.
    scheduleToStartTimeout: opts.taskQueue ? (input.retry?.scheduleToStartTimeout ?? '5 minutes') : undefined,
    retry: {
      initialInterval: input.retry?.initialInterval ?? '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: input.retry?.maximumAttempts ?? 3,
    },
  });
}

/** Activities that must run on the target's host (alembic dir, services, logs). */
export function hostActivitiesFor(input: RunbookInput, target: TargetInfo) {
  return activitiesFor(input, { taskQueue: target.taskQueue });
}

/** Dumps, restores, snapshots: long, heartbeating, cancelled with the run. */
export function longActivitiesFor(input: RunbookInput) {
  return activitiesFor(input, { long: true });
}
