import { RunbookInputError, type RunbookDefinition } from './define.js';
import { definition as approvalDrill } from './approval-drill/definition.js';
import { definition as connectionRefused } from './connection-refused/definition.js';
import { definition as dbAccess } from './db-access/definition.js';
import { definition as einvoicingFailed } from './einvoicing-failed/definition.js';
import { definition as janitor } from './janitor/definition.js';
import { definition as loginErrors } from './login-errors/definition.js';
import { definition as migrationFailed } from './migration-failed/definition.js';
import { definition as missingContainerFile } from './missing-container-file/definition.js';
import { definition as observabilityCheck } from './observability-check/definition.js';
import { definition as paymentsFailed } from './payments-failed/definition.js';
import { definition as preflight } from './preflight/definition.js';
import { definition as pwaStaleCache } from './pwa-stale-cache/definition.js';
import { definition as redisHealth } from './redis-health/definition.js';
import { definition as releaseMigration } from './release-migration/definition.js';
import { definition as schemaDrift } from './schema-drift/definition.js';
import { definition as stuckImports } from './stuck-imports/definition.js';

/**
 * The runbook catalogue: each runbook's definition, from its folder. What the API lists, the CLI
 * starts and prints, the client and the worker's admission validate. Callers import this and the
 * definitions (the contract); never a workflow or an activity.
 */
export const catalogue: RunbookDefinition[] = [
  approvalDrill,
  connectionRefused,
  dbAccess,
  einvoicingFailed,
  janitor,
  loginErrors,
  migrationFailed,
  missingContainerFile,
  observabilityCheck,
  paymentsFailed,
  preflight,
  pwaStaleCache,
  redisHealth,
  releaseMigration,
  schemaDrift,
  stuckImports,
];

export { inputJsonSchema, parseRunbookInput, RunbookInputError, type RunbookDefinition } from './define.js';

export function findRunbook(name: string): RunbookDefinition {
  const def = catalogue.find((r) => r.name === name);
  if (!def)
    throw new RunbookInputError(`Unknown runbook "${name}" (known: ${catalogue.map((r) => r.name).join(', ')}).`);
  return def;
}
