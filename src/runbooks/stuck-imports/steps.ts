import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** stuck-imports's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('stuck-imports', [
  resolveTarget,
  {
    id: 'db-evidence',
    kind: 'step',
    title:
      'Counts by status in import_batches and import_items; items waiting longer than stuckAfter; sessions idle in a transaction holding locks on those tables',
  },
  {
    id: 'redis-evidence',
    kind: 'step',
    title:
      'Redis PING, queue depth (LLEN), whether the queue is declared in this DB, imports:* keys with their TTLs (SCAN, never KEYS)',
  },
  {
    id: 'worker-evidence',
    kind: 'step',
    title:
      "The worker's app.startup lines and the IMPORTS_ENABLED they report; its service status; Celery inspect ping",
    hostLocal: true,
  },
  {
    id: 'diagnose',
    kind: 'step',
    title:
      "Which known causes hold: disabled flag, dead worker, lost messages, broker restarted (binding gone, but the worker's banner names this broker), stale lock, blocked rows; with retryFailed, the failed items never retried",
  },
  lockTarget,
  { id: 'remediate', kind: 'gate', title: 'Approve the remedies the diagnosis calls for, with the evidence' },
  {
    id: 'clear-locks',
    kind: 'step',
    title: 'Delete lock keys that still have no TTL (checked again atomically)',
    changes: true,
  },
  {
    id: 'end-sessions',
    kind: 'step',
    title: 'pg_terminate_backend the sessions still idle in a transaction on the import tables',
    changes: true,
  },
  {
    id: 'reenqueue',
    kind: 'step',
    title:
      "Re-enqueue each stuck item once through the app's Celery app: ledger row (deterministic task id) committed before its publish; done items never selected. With retryFailed, each failed item once ever: set back to waiting with its ledger row, then published",
    changes: true,
  },
  {
    id: 'restart-worker',
    kind: 'gate',
    title: 'Approve restarting the imports worker (after fixing IMPORTS_ENABLED where that is the cause)',
  },
  {
    id: 'restart',
    kind: 'step',
    title: 'Restart the imports worker through the service adapter, proved healthy',
    changes: true,
    hostLocal: true,
  },
  {
    id: 'flag-after-restart',
    kind: 'step',
    title: 'When the flag was the cause: read the new start-up line; still disabled → stop and say so',
    hostLocal: true,
  },
  {
    id: 'check-binding',
    kind: 'step',
    title:
      'When the broker restarted: the worker is restarted before the remediate gate; wait (30s) for it to declare the queue again (_kombu.binding.<queue>); still missing → stop, nothing re-enqueued',
  },
  {
    id: 'verify',
    kind: 'step',
    title:
      'Verify: the stuck items leave the waiting statuses within verifyDeadline; otherwise say what is still stuck',
  },
]);
