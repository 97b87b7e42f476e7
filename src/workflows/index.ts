// The worker's workflowsPath: every runbook's workflow (from its folder under src/runbooks/, the
// same list as src/runbooks/catalogue.ts; test/unit/catalogue.test.ts checks they agree) and the
// workflows that serve them (the target lock, the alert intake).
export { approvalDrill } from '../runbooks/approval-drill/workflow.js';
export { connectionRefused } from '../runbooks/connection-refused/workflow.js';
export { dbAccess } from '../runbooks/db-access/workflow.js';
export { einvoicingFailed } from '../runbooks/einvoicing-failed/workflow.js';
export { janitor } from '../runbooks/janitor/workflow.js';
export { loginErrors } from '../runbooks/login-errors/workflow.js';
export { migrationFailed } from '../runbooks/migration-failed/workflow.js';
export { missingContainerFile } from '../runbooks/missing-container-file/workflow.js';
export { observabilityCheck } from '../runbooks/observability-check/workflow.js';
export { paymentsFailed } from '../runbooks/payments-failed/workflow.js';
export { preflight } from '../runbooks/preflight/workflow.js';
export { pwaStaleCache } from '../runbooks/pwa-stale-cache/workflow.js';
export { redisHealth } from '../runbooks/redis-health/workflow.js';
export { releaseMigration } from '../runbooks/release-migration/workflow.js';
export { schemaDrift } from '../runbooks/schema-drift/workflow.js';
export { stuckImports } from '../runbooks/stuck-imports/workflow.js';
export { targetLock } from './target-lock.js';
export { alertIntake } from './alert-intake.js';
