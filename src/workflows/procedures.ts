import { RETRY_SQL_LIMITS } from '../util/sql-statement.js';

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

/** Steps several runbooks share, declared once. */
const lockTarget: ProcedureItem = { id: 'lock-target', kind: 'step', title: 'Take the target\'s lock (one change at a time)' };
const resolveTarget: ProcedureItem = { id: 'resolve-target', kind: 'step', title: 'Resolve the target by name on the worker' };
const dryRunCopy: ProcedureItem = { id: 'dry-run-copy', kind: 'step', title: 'Dry run only: dump the live database (nobody is cut off)', onlyWith: 'dryRun' };
const dryRunRestore: ProcedureItem = { id: 'dry-run-restore', kind: 'step', title: 'Dry run only: restore that dump into a scratch database, checked against its manifest', onlyWith: 'dryRun' };
const recordSettings: ProcedureItem = { id: 'record-settings', kind: 'step', title: 'Record the database\'s owner, grants, settings and connection settings' };
const stopWriters: ProcedureItem = { id: 'stop-writers', kind: 'step', title: 'Targets with freezeWrites: services: stop the writer services through the service adapter, each proved down', changes: true, hostLocal: true };
const startWriters: ProcedureItem = { id: 'start-writers', kind: 'step', title: 'Targets with freezeWrites: services: start the writer services again, each proved healthy (status, log line, HTTP check)', changes: true, hostLocal: true };
const freeze: ProcedureItem = { id: 'freeze', kind: 'step', title: 'Freeze writes: ALTER DATABASE … SET default_transaction_read_only = on, end the app\'s sessions, prove a write as the app\'s role fails', changes: true };
const dump: ProcedureItem = { id: 'dump', kind: 'step', title: 'Portable dump of the snapshot: pg_dump -Fd -j2, manifest (sha256 per file, row counts), verified with pg_restore --list' };
const smoke: ProcedureItem = { id: 'smoke', kind: 'step', title: 'Smoke checks of the target (SQL and HTTP)' };
const unfreeze: ProcedureItem = { id: 'unfreeze', kind: 'step', title: 'Unfreeze writes, proved by a write as the app\'s role', changes: true };
const reportFinding: ProcedureItem = { id: 'report-finding', kind: 'step', title: 'Started by a schedule and found a problem: tell the target\'s notify hooks; where the target declares schedules.<check>.escalate, start that runbook through the alert intake (one run while it is open)', onlyWith: 'schedule' };
const cleanup: ProcedureItem = { id: 'cleanup', kind: 'step', title: 'Drop the scratch databases this run made' };

export const procedures: Record<string, ProcedureItem[]> = {
  'db-access': [
    { id: 'resolve-target', kind: 'step', title: 'Resolve the target by name on the worker (host, port, database; credentials stay on the worker)' },
    { id: 'select-1', kind: 'step', title: 'Check connectivity: `select 1`, its latency, the server version' },
    { id: 'connections', kind: 'step', title: 'Count connections in use against max_connections' },
    { id: 'applied-revision', kind: 'step', title: 'Read the applied migration from alembic_version' },
    { id: 'alembic-heads', kind: 'step', title: 'List the code\'s migration heads and history (alembic)', hostLocal: true },
    { id: 'long-transactions', kind: 'step', title: 'List transactions open longer than the threshold' },
    { id: 'blocking-locks', kind: 'step', title: 'List sessions waiting on locks, and who holds them' },
    reportFinding,
  ],
  'migration-failed': [
    lockTarget,
    resolveTarget,
    { id: 'preflight', kind: 'step', title: 'Check the ops role\'s privileges; toRevision: given, or the pre-release revision release-migration recorded (never a blind downgrade -1), known to the code; verify the given backup', hostLocal: true },
    { id: 'evidence', kind: 'step', title: 'Compare the live schema with a fresh build of its current revision: the objects a failed revision left behind', hostLocal: true },
    dryRunCopy,
    dryRunRestore,
    recordSettings,
    { id: 'freeze-writes', kind: 'gate', title: 'Approve freezing writes (the app is cut off for the seconds of the snapshot)' },
    stopWriters,
    freeze,
    { id: 'snapshot', kind: 'step', title: 'Undo point: snapshot of the frozen database (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY)' },
    dump,
    { id: 'rehearse-downgrade', kind: 'step', title: 'Rehearse the downgrade on a clone of the snapshot; compare with a fresh build of toRevision; rehearse dropping leftovers; time it; drop the clone', hostLocal: true },
    { id: 'downgrade', kind: 'gate', title: 'Approve the downgrade (when the rehearsal ended clean), with the rehearsal as evidence' },
    { id: 'apply-downgrade', kind: 'step', title: 'alembic downgrade <toRevision> on the live database', changes: true, hostLocal: true },
    { id: 'drop-leftovers', kind: 'step', title: 'Drop the leftovers the rehearsal dropped (indexes, constraints; never tables)', changes: true },
    { id: 'verify', kind: 'step', title: 'Verify: the live database equals a fresh build of toRevision', hostLocal: true },
    { id: 'restore-source', kind: 'step', title: 'If the downgrade cannot repair it: the given backup restored into scratch (checked against its manifest), or a copy of the pre-release snapshot' },
    { id: 'restore-evidence', kind: 'step', title: 'What the restore would lose: rows in the live database the source lacks, per table, with the newest timestamps' },
    { id: 'restore', kind: 'gate', title: 'Approve the restore, with what it would lose as evidence' },
    { id: 'swap-in', kind: 'step', title: 'Swap the restored database in (two renames in one transaction), re-apply owner/grants/settings and the freeze, prove as the app\'s role; keep the replaced one as <live>_pre_restore_<time>', changes: true },
    { id: 'reapply', kind: 'gate', title: 'Approve re-applying the migrations (with reapply)' },
    { id: 'apply-reapply', kind: 'step', title: 'alembic upgrade head', changes: true, hostLocal: true, onlyWith: 'reapply' },
    smoke,
    unfreeze,
    startWriters,
    { id: 'root-cause', kind: 'step', title: 'Wait for the root-cause note (update or signal rootCause: {"by", "note"}) until the deadline; it goes into the timeline' },
    cleanup,
  ],
  'release-migration': [
    lockTarget,
    resolveTarget,
    { id: 'preflight', kind: 'step', title: 'Check the ops role\'s privileges (CREATEDB, database owner, pg_signal_backend); the database\'s revision is one the code knows; resolve toRevision', hostLocal: true },
    dryRunCopy,
    dryRunRestore,
    { id: 'record-settings', kind: 'step', title: 'Record the database\'s owner, grants, settings and connection settings (a swapped-in copy gets them back)' },
    { id: 'freeze-writes', kind: 'gate', title: 'Approve freezing writes (targets with freezeWrites)' },
    stopWriters,
    freeze,
    { id: 'snapshot', kind: 'step', title: 'Pre-release snapshot: CREATE DATABASE … TEMPLATE live STRATEGY FILE_COPY (connections blocked for those seconds), labelled with the revision' },
    dump,
    { id: 'rehearse-upgrade', kind: 'step', title: 'Rehearse the upgrade on a clone of the snapshot; compare with a fresh build of the revision; time it; drop the clone', hostLocal: true },
    { id: 'upgrade', kind: 'gate', title: 'Approve the upgrade, with the rehearsal\'s outcome as evidence' },
    { id: 'apply-upgrade', kind: 'step', title: 'alembic upgrade <toRevision> on the live database', changes: true, hostLocal: true },
    smoke,
    { id: 'rollback-evidence', kind: 'step', title: 'On failure: what a rollback would lose (rows written since the snapshot)' },
    { id: 'rollback', kind: 'gate', title: 'On failure: approve swapping the pre-release snapshot back in, or reject to hand over to migration-failed' },
    { id: 'swap-back', kind: 'step', title: 'Swap the snapshot in (two renames in one transaction), re-apply owner/grants/settings, prove as the app\'s role; keep the failed database under a dated name', changes: true },
    unfreeze,
    startWriters,
    cleanup,
  ],
  'schema-drift': [
    resolveTarget,
    { id: 'preflight', kind: 'step', title: 'Check the ops role\'s privileges; the database is at the code\'s head (drift is measured there)', hostLocal: true },
    { id: 'check-retry', kind: 'step', title: 'Check retrySql before any change: one statement, no transaction control; a session as the app\'s role (postgres.appUser) proves it is no superuser and no member of pg_execute_server_program, pg_write_server_files, pg_read_server_files or pg_signal_backend', onlyWith: 'retrySql' },
    { id: 'work-copy', kind: 'step', title: 'Copy the app\'s alembic tree to a scratch directory (autogenerate writes there, never in the app\'s tree)', hostLocal: true },
    { id: 'detect-drift', kind: 'step', title: 'alembic autogenerate against the models (env.py target_metadata), without writing a file; drops are listed and refused; no drift → done', hostLocal: true },
    lockTarget,
    recordSettings,
    { id: 'snapshot', kind: 'step', title: 'Undo point: snapshot (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY; connections blocked for those seconds)' },
    { id: 'dump', kind: 'step', title: 'Portable dump of the snapshot: pg_dump -Fd -j2, manifest, verified with pg_restore --list' },
    { id: 'generate-revision', kind: 'step', title: 'Generate the revision file in the scratch copy (no drops); save it as an artifact', hostLocal: true },
    { id: 'rehearse-revision', kind: 'step', title: 'Rehearse it on a clone of the snapshot; compare with a fresh build; time it', hostLocal: true },
    { id: 'rehearse-verify', kind: 'step', title: 'Check on a clone that no drift remains after it', hostLocal: true },
    { id: 'apply-revision', kind: 'gate', title: 'Approve applying the generated operations, with the rehearsal as evidence' },
    { id: 'apply-generated', kind: 'step', title: 'alembic upgrade <generated revision> on the live database', changes: true, hostLocal: true },
    { id: 'verify', kind: 'step', title: 'Verify: autogenerate finds no drift on the live database', hostLocal: true },
    { id: 'retry-operation', kind: 'step', title: `Retry the operation that was failing: retrySql as the app's role (checked again in the same session), parsed by PostgreSQL as one statement, in a transaction always rolled back, under statement_timeout ${RETRY_SQL_LIMITS.statementTimeout} (its session ended if it outlives it); or retryHttp` },
    { id: 'confirm-commit', kind: 'gate', title: 'Commit the generated file to the app\'s repository; approve with the commit id (reminders until then)' },
  ],
  'stuck-imports': [
    resolveTarget,
    { id: 'db-evidence', kind: 'step', title: 'Counts by status in import_batches and import_items; items waiting longer than stuckAfter; sessions idle in a transaction holding locks on those tables' },
    { id: 'redis-evidence', kind: 'step', title: 'Redis PING, queue depth (LLEN), whether the queue is declared in this DB, imports:* keys with their TTLs (SCAN, never KEYS)' },
    { id: 'worker-evidence', kind: 'step', title: 'The worker\'s app.startup lines and the IMPORTS_ENABLED they report; its service status; Celery inspect ping', hostLocal: true },
    { id: 'diagnose', kind: 'step', title: 'Which known causes hold: disabled flag, dead worker, lost messages, broker restarted (binding gone, but the worker\'s banner names this broker), stale lock, blocked rows; with retryFailed, the failed items never retried' },
    lockTarget,
    { id: 'remediate', kind: 'gate', title: 'Approve the remedies the diagnosis calls for, with the evidence' },
    { id: 'clear-locks', kind: 'step', title: 'Delete lock keys that still have no TTL (checked again atomically)', changes: true },
    { id: 'end-sessions', kind: 'step', title: 'pg_terminate_backend the sessions still idle in a transaction on the import tables', changes: true },
    { id: 'reenqueue', kind: 'step', title: 'Re-enqueue each stuck item once through the app\'s Celery app: ledger row (deterministic task id) committed before its publish; done items never selected. With retryFailed, each failed item once ever: set back to waiting with its ledger row, then published', changes: true },
    { id: 'restart-worker', kind: 'gate', title: 'Approve restarting the imports worker (after fixing IMPORTS_ENABLED where that is the cause)' },
    { id: 'restart', kind: 'step', title: 'Restart the imports worker through the service adapter, proved healthy', changes: true, hostLocal: true },
    { id: 'flag-after-restart', kind: 'step', title: 'When the flag was the cause: read the new start-up line; still disabled → stop and say so', hostLocal: true },
    { id: 'check-binding', kind: 'step', title: 'When the broker restarted: the worker is restarted before the remediate gate; wait (30s) for it to declare the queue again (_kombu.binding.<queue>); still missing → stop, nothing re-enqueued' },
    { id: 'verify', kind: 'step', title: 'Verify: the stuck items leave the waiting statuses within verifyDeadline; otherwise say what is still stuck' },
  ],
  'connection-refused': [
    resolveTarget,
    { id: 'tcp-probe', kind: 'step', title: 'TCP connect to the host and port of app.url: open, refused, timeout, DNS failure' },
    { id: 'http-ready', kind: 'step', title: 'When the port is open: GET the readiness path (app.ready)' },
    { id: 'service-state', kind: 'step', title: 'The app service\'s state through the service adapter (docker compose ps, systemctl is-active, or its status command)', hostLocal: true },
    { id: 'port-mapping', kind: 'step', title: 'With app.compose: does the service\'s ports: publish the port users connect to? (missing or wrong is reported with the YAML that fixes it)', hostLocal: true },
    lockTarget,
    { id: 'force-recreate', kind: 'gate', title: 'Approve recreating the app service, with the evidence (fix a wrong port mapping first)' },
    { id: 'port-mapping-again', kind: 'step', title: 'When the mapping was wrong: read it again; still wrong → stop, nothing recreated', hostLocal: true },
    { id: 'recreate', kind: 'step', title: 'docker compose up -d --no-deps --force-recreate <service>, or restart through the target\'s driver; proved healthy', changes: true, hostLocal: true },
    { id: 'verify-port', kind: 'step', title: 'Verify: the port accepts connections and the app is ready' },
  ],
  'missing-container-file': [
    resolveTarget,
    { id: 'detect-files', kind: 'step', title: 'Each file of app.files (or the ones named): present where the app runs (docker exec sha256sum, or its directory) and equal to the good copy; mounts that hide it', hostLocal: true },
    { id: 'app-health', kind: 'step', title: 'GET the readiness path' },
    lockTarget,
    { id: 'copy-in', kind: 'gate', title: 'Approve copying the good copies in, with the evidence and the permanent fix' },
    { id: 'copy-files', kind: 'step', title: 'docker cp <source> <container>:<workdir>/<path> (or copy into the app directory); sha256 checked', changes: true, hostLocal: true },
    { id: 'restart-app', kind: 'step', title: 'Restart the app service through the service adapter, proved healthy', changes: true, hostLocal: true },
    { id: 'verify-files', kind: 'step', title: 'Verify: the files are there and equal to the good copy; the app is ready', hostLocal: true },
  ],
  'observability-check': [
    resolveTarget,
    { id: 'ready', kind: 'step', title: 'GET the readiness path (/ready)' },
    { id: 'metrics', kind: 'step', title: 'GET the metrics endpoint; are the seeds\' key metrics exposed (auth 401/403, imports failed/pending, payment attempts/errors, e-invoicing failures/latency)?' },
    { id: 'request-id', kind: 'step', title: 'Send a request with a fresh X-Request-ID; is it echoed, and found in the app\'s logs?', hostLocal: true },
    reportFinding,
  ],
  'payments-failed': [
    resolveTarget,
    { id: 'inspect', kind: 'step', title: 'Per provider: its mode in the app\'s env file against the expected one; its webhook endpoint sent a correctly signed test event (2xx expected; Stripe\'s scheme through the stripe package, HMAC for the others) and a badly signed one (4xx expected); attempts by provider and status; the app\'s failed webhook events', hostLocal: true },
    lockTarget,
    { id: 'redrive', kind: 'gate', title: 'Approve re-driving the failed events of providers whose webhook and mode are right' },
    { id: 'redrive-events', kind: 'step', title: 'Send each event again as received, freshly signed; the app keys it by event id (an event already processed changes nothing)', changes: true, hostLocal: true },
    { id: 'verify', kind: 'step', title: 'Verify: the re-driven events are no longer failed' },
  ],
  'pwa-stale-cache': [
    resolveTarget,
    { id: 'inspect', kind: 'step', title: 'The build version served (version.json under the base path) vs the expected one; Cache-Control of index.html and the service worker; every asset index.html references under VITE_BASE_PATH and answering 200' },
    lockTarget,
    { id: 'redeploy', kind: 'gate', title: 'Approve rebuilding and redeploying the PWA (only when the build itself is wrong; header problems are reported for the web server\'s owner)' },
    { id: 'redeploy-build', kind: 'step', title: 'Run the target\'s pwa.redeploy command (bounded; its text stays in the targets file)', changes: true, hostLocal: true },
    { id: 'verify-version', kind: 'step', title: 'Verify, until verifyDeadline: the expected version is served with every asset' },
  ],
  'einvoicing-failed': [
    resolveTarget,
    { id: 'inspect', kind: 'step', title: 'The signing certificate (PKCS#12 opened with openssl pkcs12, -legacy for older files: expiry, its key), the provider environment in the app\'s env file, invoices / invoices_temp by estado, the app\'s app.einvoicing lines', hostLocal: true },
    lockTarget,
    { id: 'retry-emission', kind: 'gate', title: 'Approve emitting the failed invoices again (offered only when the certificate and the environment are right)' },
    { id: 'retry', kind: 'step', title: 'POST each failed invoice to the app\'s retry endpoint with Idempotency-Key rb-<run id>-<invoice id> (a retried step sends the same keys)', changes: true, hostLocal: true },
    { id: 'verify', kind: 'step', title: 'Verify: count by estado again; which retried invoices left the failed states' },
  ],
  'login-errors': [
    resolveTarget,
    { id: 'auth-window-start', kind: 'step', title: 'First sample of the app\'s requests by status (app.metrics); the window (login.authFailures.window) is slept durably' },
    { id: 'auth-window-end', kind: 'step', title: 'Second sample: the 401/403 share (and 429s) over the window, against the threshold (5%)' },
    { id: 'auth-failures', kind: 'step', title: 'Or, with login.authFailures.prometheus: the share from the target\'s Prometheus query' },
    { id: 'inspect', kind: 'step', title: 'A bad-credentials login (5xx? 429?) and the probe account\'s good login (its Set-Cookie judged as browsers do: Domain vs COOKIE_DOMAIN, Secure, SameSite, HttpOnly); CORS preflight from each front-end origin; the certificate (chain, names, days left); RATE_LIMIT_ENABLED and RateLimitMiddleware lines' },
    lockTarget,
    { id: 'remediate', kind: 'gate', title: 'Approve the named remediations whose fixes match the findings (none is offered for what was not found)' },
    { id: 'run-remediation', kind: 'step', title: 'Run each approved remediation\'s command on the target\'s host (bounded; its text stays in the targets file)', changes: true, hostLocal: true },
    { id: 'restart', kind: 'step', title: 'Restart the services the remediations name, proved healthy', changes: true, hostLocal: true },
    { id: 'verify', kind: 'step', title: 'Verify: the login checked again; the findings the remediations address are gone' },
  ],
  janitor: [
    resolveTarget,
    { id: 'list', kind: 'step', title: 'List our databases on the server (by their durable-runbooks label), our dumps, and the runs\' work copies and artifacts on the target\'s host' },
    { id: 'plan', kind: 'step', title: 'Clones, scratch and fresh builds and work copies of ended runs go at once; snapshots, kept databases, dumps and artifacts after the retention; nothing of an open run' },
    { id: 'remove', kind: 'gate', title: 'Approve dropping the listed leftovers for good (not in a dry run; skipped when there is nothing to drop)' },
    { id: 'drop', kind: 'step', title: 'Drop and delete them', changes: true },
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
