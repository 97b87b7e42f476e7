// Every runbook workflow: the worker's workflowsPath.
export { approvalDrill } from './approval-drill.js';
export { dbAccess } from './db-access.js';
export { janitor } from './janitor.js';
export { migrationFailed } from './migration-failed.js';
export { releaseMigration } from './release-migration.js';
export { schemaDrift } from './schema-drift.js';
export { stuckImports } from './stuck-imports.js';
export { targetLock } from './target-lock.js';
