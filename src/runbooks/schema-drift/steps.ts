import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';
import { recordSettings } from '../shared/database-steps.js';
import { RETRY_SQL_LIMITS } from '../../util/sql-statement.js';

/** schema-drift's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('schema-drift', [
  resolveTarget,
  {
    id: 'preflight',
    kind: 'step',
    title: "Check the ops role's privileges; the database is at the code's head (drift is measured there)",
    hostLocal: true,
  },
  {
    id: 'check-retry',
    kind: 'step',
    title:
      "Check retrySql before any change: one statement, no transaction control; a session as the app's role (postgres.appUser) proves it is no superuser and no member of pg_execute_server_program, pg_write_server_files, pg_read_server_files or pg_signal_backend",
    onlyWith: 'retrySql',
  },
  {
    id: 'work-copy',
    kind: 'step',
    title: "Copy the app's alembic tree to a scratch directory (autogenerate writes there, never in the app's tree)",
    hostLocal: true,
  },
  {
    id: 'detect-drift',
    kind: 'step',
    title:
      'alembic autogenerate against the models (env.py target_metadata), without writing a file; drops are listed and refused; no drift → done',
    hostLocal: true,
  },
  lockTarget,
  recordSettings,
  {
    id: 'snapshot',
    kind: 'step',
    title:
      'Undo point: snapshot (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY; connections blocked for those seconds)',
  },
  {
    id: 'dump',
    kind: 'step',
    title: 'Portable dump of the snapshot: pg_dump -Fd -j2, manifest, verified with pg_restore --list',
  },
  {
    id: 'generate-revision',
    kind: 'step',
    title: 'Generate the revision file in the scratch copy (no drops); save it as an artifact',
    hostLocal: true,
  },
  {
    id: 'rehearse-revision',
    kind: 'step',
    title: 'Rehearse it on a clone of the snapshot; compare with a fresh build; time it',
    hostLocal: true,
  },
  { id: 'rehearse-verify', kind: 'step', title: 'Check on a clone that no drift remains after it', hostLocal: true },
  {
    id: 'apply-revision',
    kind: 'gate',
    title: 'Approve applying the generated operations, with the rehearsal as evidence',
  },
  {
    id: 'apply-generated',
    kind: 'step',
    title: 'alembic upgrade <generated revision> on the live database',
    changes: true,
    hostLocal: true,
  },
  { id: 'verify', kind: 'step', title: 'Verify: autogenerate finds no drift on the live database', hostLocal: true },
  {
    id: 'retry-operation',
    kind: 'step',
    title: `Retry the operation that was failing: retrySql as the app's role (checked again in the same session), parsed by PostgreSQL as one statement, in a transaction always rolled back, under statement_timeout ${RETRY_SQL_LIMITS.statementTimeout} (its session ended if it outlives it); or retryHttp`,
  },
  {
    id: 'confirm-commit',
    kind: 'gate',
    title: "Commit the generated file to the app's repository; approve with the commit id (reminders until then)",
  },
]);
