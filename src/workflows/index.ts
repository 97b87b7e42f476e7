// Every runbook workflow: the worker's workflowsPath.
export { approvalDrill } from './approval-drill.js';
export { connectionRefused } from './connection-refused.js';
export { dbAccess } from './db-access.js';
export { einvoicingFailed } from './einvoicing-failed.js';
export { janitor } from './janitor.js';
export { loginErrors } from './login-errors.js';
export { migrationFailed } from './migration-failed.js';
export { missingContainerFile } from './missing-container-file.js';
export { observabilityCheck } from './observability-check.js';
export { paymentsFailed } from './payments-failed.js';
export { pwaStaleCache } from './pwa-stale-cache.js';
export { releaseMigration } from './release-migration.js';
export { schemaDrift } from './schema-drift.js';
export { stuckImports } from './stuck-imports.js';
export { targetLock } from './target-lock.js';
export { alertIntake } from './alert-intake.js';
