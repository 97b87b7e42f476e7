import type { ProcedureItem } from '../../contract/procedure.js';

/** The steps the database runbooks (migration-failed, release-migration, schema-drift) share, declared once. */
export const dryRunCopy: ProcedureItem = {
  id: 'dry-run-copy',
  kind: 'step',
  title: 'Dry run only: dump the live database (nobody is cut off)',
  onlyWith: 'dryRun',
};
export const dryRunRestore: ProcedureItem = {
  id: 'dry-run-restore',
  kind: 'step',
  title: 'Dry run only: restore that dump into a scratch database, checked against its manifest',
  onlyWith: 'dryRun',
};
export const recordSettings: ProcedureItem = {
  id: 'record-settings',
  kind: 'step',
  title: "Record the database's owner, grants, settings and connection settings",
};
export const stopWriters: ProcedureItem = {
  id: 'stop-writers',
  kind: 'step',
  title: 'Targets with freezeWrites: services: stop the writer services through the service adapter, each proved down',
  changes: true,
  hostLocal: true,
};
export const startWriters: ProcedureItem = {
  id: 'start-writers',
  kind: 'step',
  title:
    'Targets with freezeWrites: services: start the writer services again, each proved healthy (status, log line, HTTP check)',
  changes: true,
  hostLocal: true,
};
export const freeze: ProcedureItem = {
  id: 'freeze',
  kind: 'step',
  title:
    "Freeze writes: ALTER DATABASE … SET default_transaction_read_only = on, end the app's sessions, prove a write as the app's role fails",
  changes: true,
};
export const dump: ProcedureItem = {
  id: 'dump',
  kind: 'step',
  title:
    'Portable dump of the snapshot: pg_dump -Fd -j2, manifest (sha256 per file, row counts), verified with pg_restore --list',
};
export const smoke: ProcedureItem = { id: 'smoke', kind: 'step', title: 'Smoke checks of the target (SQL and HTTP)' };
export const unfreeze: ProcedureItem = {
  id: 'unfreeze',
  kind: 'step',
  title: "Unfreeze writes, proved by a write as the app's role",
  changes: true,
};
export const cleanup: ProcedureItem = {
  id: 'cleanup',
  kind: 'step',
  title: 'Drop the scratch databases this run made',
};
