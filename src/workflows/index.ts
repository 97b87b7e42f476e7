// Every runbook workflow: the worker's workflowsPath.
export { dbAccess } from './db-access.js';
