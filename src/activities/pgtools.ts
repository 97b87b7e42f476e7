import type { TargetRegistry } from '../targets.js';
import { type BackupContext, listBackups, removeBackup } from './backup-files.js';
import { pgVerifyBackup } from './backup-verify.js';
import { bindActivities } from './context.js';
import { pgExecute, pgRevisionIn, pgRowsNotIn, pgTableRows } from './database-contents.js';
import { pgBackupSpace, pgDumpBackup } from './pg-dump.js';
import { pgRestoreInto } from './pg-restore.js';
import { pgSchemaDiff } from './schema-diff.js';

/**
 * PostgreSQL's own tools on a target (pg-tool.ts): dumps (pg-dump.ts), their verification
 * (backup-verify.ts) and restore (pg-restore.ts), the dump files on this worker (backup-files.ts),
 * schema comparison (schema-diff.ts) and what a database holds (database-contents.ts).
 */

export type * from './backup-files.js';
export type * from './backup-verify.js';
export type * from './database-contents.js';
export type * from './schema-diff.js';
export { parseManifest } from './backup-verify.js';
export { tableDataEntries } from './pg-dump.js';
export { diffSchemas, normaliseSchema } from './schema-diff.js';

/** `dataDir`: where dumps go when a target names no backups.dir. */
export function createPgToolActivities(targets: TargetRegistry, dataDir: string) {
  return bindActivities({ targets, dataDir } satisfies BackupContext, {
    pgBackupSpace,
    pgSchemaDiff,
    pgTableRows,
    pgRowsNotIn,
    pgRevisionIn,
    pgExecute,
    pgDumpBackup,
    pgVerifyBackup,
    pgRestoreInto,
    removeBackup,
    listBackups,
  });
}
