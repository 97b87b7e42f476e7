import type { Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import proto from '@temporalio/proto';
import { msToTs } from '@temporalio/common/lib/time.js';
import { searchAttributeKeys } from '../contract/search-attributes.js';

/**
 * What a Temporal namespace needs before runbooks can run on it: the namespace itself and our
 * search attributes. Over an existing connection, so a TLS or API-key connection works the same.
 */

/** Registers the search attributes the namespace lacks; returns their names (empty when all existed). */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...existing.customAttributes, ...existing.systemAttributes };
  const missing = searchAttributeKeys.map((k) => k.name).filter((name) => !(name in known));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((name) => [name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  }
  return missing;
}

/** Registers the namespace if it does not exist; returns whether it did so. */
export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  retention: Duration,
): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(retention),
    });
  } catch (err) {
    // Someone else registered it between our two calls: what we wanted.
    if ((err as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw err;
  }
  return true;
}
