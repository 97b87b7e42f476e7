import type { TargetRegistry } from '../targets.js';
import { bindActivities } from './context.js';
import type { ImportsContext } from './imports-config.js';
import { importsDbEvidence, importsEndBlockingSessions } from './imports-db.js';
import { importsClearStaleLocks, importsQueueDeclared, importsRedisEvidence } from './imports-redis.js';
import { importsReenqueue } from './imports-reenqueue.js';
import { importsWorkerEvidence } from './imports-worker.js';
import { createServiceActivities } from './services.js';

/**
 * stuck-imports' eyes and hands: the import tables in PostgreSQL (imports-db.ts), the broker and
 * `imports:*` keys in Redis (imports-redis.ts), the worker's start-up log lines and liveness
 * (imports-worker.ts, celery.ts), and the three remedies (stale Redis locks, sessions holding row
 * locks, re-enqueue through the app's own Celery app with a ledger: imports-reenqueue.ts).
 */

export type { ImportsDbEvidence } from './imports-db.js';
export type { ImportsRedisEvidence, QueueCheck } from './imports-redis.js';
export type { ReenqueueResult } from './imports-reenqueue.js';
export type { ImportsWorkerEvidence } from './imports-worker.js';
export { qi } from './imports-config.js';
export { bannerFromLines, brokerKey, flagFromLines } from './imports-worker.js';

export function createImportsActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  const ctx: ImportsContext = { targets, env, services: createServiceActivities(targets, env) };
  return bindActivities(ctx, {
    importsDbEvidence,
    importsRedisEvidence,
    importsQueueDeclared,
    importsWorkerEvidence,
    importsClearStaleLocks,
    importsEndBlockingSessions,
    importsReenqueue,
  });
}
