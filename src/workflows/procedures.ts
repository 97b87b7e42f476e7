/**
 * Each runbook's procedure, in order: the single list the workflow runs (runbook() refuses a step
 * or gate not declared here) and `runbook print` renders. So the printed procedure cannot drift
 * from what runs.
 */

export interface ProcedureItem {
  id: string;
  kind: 'step' | 'gate';
  title: string;
  /** Changes the target (listed as "would run" in dry runs). */
  changes?: boolean;
  /** Runs on the target's host worker (its taskQueue), not on any worker. */
  hostLocal?: boolean;
  /** Runs only when this input is set. */
  onlyWith?: string;
}

export const procedures: Record<string, ProcedureItem[]> = {
  'db-access': [
    { id: 'resolve-target', kind: 'step', title: 'Resolve the target by name on the worker (host, port, database; credentials stay on the worker)' },
    { id: 'select-1', kind: 'step', title: 'Check connectivity: `select 1`, its latency, the server version' },
    { id: 'connections', kind: 'step', title: 'Count connections in use against max_connections' },
    { id: 'applied-revision', kind: 'step', title: 'Read the applied migration from alembic_version' },
    { id: 'alembic-heads', kind: 'step', title: 'List the code\'s migration heads and history (alembic)', hostLocal: true },
    { id: 'long-transactions', kind: 'step', title: 'List transactions open longer than the threshold' },
    { id: 'blocking-locks', kind: 'step', title: 'List sessions waiting on locks, and who holds them' },
  ],
  'release-migration': [
    { id: 'lock-target', kind: 'step', title: 'Take the target\'s lock (one change at a time)' },
    { id: 'resolve-target', kind: 'step', title: 'Resolve the target by name on the worker' },
    { id: 'preflight', kind: 'step', title: 'Check the ops role\'s privileges (CREATEDB, database owner, pg_signal_backend); the database\'s revision is one the code knows; resolve toRevision', hostLocal: true },
    { id: 'dry-run-copy', kind: 'step', title: 'Dry run only: dump the live database (nobody is cut off)', onlyWith: 'dryRun' },
    { id: 'dry-run-restore', kind: 'step', title: 'Dry run only: restore that dump into a scratch database, checked against its manifest', onlyWith: 'dryRun' },
    { id: 'freeze-writes', kind: 'gate', title: 'Approve freezing writes (targets with freezeWrites)' },
    { id: 'freeze', kind: 'step', title: 'Freeze writes: ALTER DATABASE … SET default_transaction_read_only = on, end the app\'s sessions, prove a write as the app\'s role fails', changes: true },
    { id: 'record-settings', kind: 'step', title: 'Record the database\'s owner, grants, settings and connection settings (a swapped-in copy gets them back)' },
    { id: 'snapshot', kind: 'step', title: 'Pre-release snapshot: CREATE DATABASE … TEMPLATE live STRATEGY FILE_COPY (connections blocked for those seconds), labelled with the revision' },
    { id: 'dump', kind: 'step', title: 'Portable dump of the snapshot: pg_dump -Fd -j2, manifest (sha256 per file, row counts), verified with pg_restore --list' },
    { id: 'rehearse-upgrade', kind: 'step', title: 'Rehearse the upgrade on a clone of the snapshot; compare with a fresh build of the revision; time it; drop the clone', hostLocal: true },
    { id: 'upgrade', kind: 'gate', title: 'Approve the upgrade, with the rehearsal\'s outcome as evidence' },
    { id: 'apply-upgrade', kind: 'step', title: 'alembic upgrade <toRevision> on the live database', changes: true, hostLocal: true },
    { id: 'smoke', kind: 'step', title: 'Smoke checks of the target (SQL and HTTP)' },
    { id: 'rollback-evidence', kind: 'step', title: 'On failure: what a rollback would lose (rows written since the snapshot)' },
    { id: 'rollback', kind: 'gate', title: 'On failure: approve swapping the pre-release snapshot back in, or reject to hand over to migration-failed' },
    { id: 'swap-back', kind: 'step', title: 'Swap the snapshot in (two renames in one transaction), re-apply owner/grants/settings, prove as the app\'s role; keep the failed database under a dated name', changes: true },
    { id: 'unfreeze', kind: 'step', title: 'Unfreeze writes, proved by a write as the app\'s role', changes: true },
    { id: 'cleanup', kind: 'step', title: 'Drop the scratch databases this run made' },
  ],
  'approval-drill': [
    { id: 'lock-target', kind: 'step', title: 'Take the target\'s lock, as changing runbooks do (to practise a locked target)', onlyWith: 'takeLock' },
    { id: 'proceed', kind: 'gate', title: 'Approve to proceed (four-eyes, one approver). Nothing will be changed.' },
    { id: 'record-decision', kind: 'step', title: 'Record who approved and how the decision arrived' },
  ],
};

/** The journal names of a gate's policy step, and of the gate a failed step parks at. */
export const policyStep = (gate: string) => `policy:${gate}`;
export const recoveryGate = (step: string) => `recover:${step}`;
