import { proxyActivities } from '@temporalio/workflow';
import type { Activities, TargetInfo } from '../activities/index.js';
import type { RunbookInput } from './types.js';

/**
 * Activity proxies with explicit timeouts and bounded retries (Temporal retries forever by
 * default). Host-local steps go to the target's own task queue when it names one. Long steps
 * (dumps, restores, snapshots) heartbeat with progress every 2 s instead of a short timeout.
 */
export function activitiesFor(input: RunbookInput, opts: { taskQueue?: string; long?: boolean } = {}) {
  return proxyActivities<Activities>({
    taskQueue: opts.taskQueue,
    ...(opts.long
      ? { startToCloseTimeout: '4 hours', heartbeatTimeout: input.retry?.heartbeatTimeout ?? '1 minute' }
      : { startToCloseTimeout: input.retry?.activityTimeout ?? '2 minutes' }),
    // A host-local queue with no worker must not hang the run forever.
    scheduleToStartTimeout: opts.taskQueue ? input.retry?.scheduleToStartTimeout ?? '5 minutes' : undefined,
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
