import type { PgBlockingLock, PgConnections, PgLongTransaction, PgPing } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import { reportScheduledFinding } from '../../engine/scheduled-check.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { DbAccessInput } from './definition.js';
import { databaseLabel, dbAccessSummary } from './texts.js';

/**
 * Seed 003 "Recuperar acceso a DB", plus what an on-call engineer looks at next. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface DbAccessFindings {
  connectivity: PgPing;
  connections: PgConnections;
  appliedRevisions: string[] | null;
  heads: string[] | null;
  migrationState: 'up-to-date' | 'behind' | 'unknown-revision' | 'not-migrated' | 'no-alembic-dir';
  longTransactions: PgLongTransaction[];
  blockingLocks: PgBlockingLock[];
}

export async function dbAccess(input: DbAccessInput): Promise<RunbookResult<DbAccessFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  const longSeconds = input.longTransactionSeconds ?? 300;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const db = databaseLabel(target.postgres);
    const connectivity = await rb.step('select-1', () => act.pgPing(input.target), {
      inputs: { target: input.target, database: db },
    });
    const connections = await rb.step('connections', () => act.pgConnections(input.target));
    const applied = await rb.step('applied-revision', () => act.pgAppliedRevision(input.target));
    const code = target.hasAlembic
      ? await rb.step('alembic-heads', () => hostActivitiesFor(input, target).alembicHeads(input.target))
      : null;
    const longTransactions = await rb.step(
      'long-transactions',
      () => act.pgLongTransactions(input.target, longSeconds),
      {
        inputs: { olderThanSeconds: longSeconds },
      },
    );
    const blockingLocks = await rb.step('blocking-locks', () => act.pgBlockingLocks(input.target));

    const findings: DbAccessFindings = {
      connectivity,
      connections,
      appliedRevisions: applied.revisions,
      heads: code?.heads ?? null,
      migrationState: migrationState(applied.revisions, code),
      longTransactions,
      blockingLocks,
    };
    const summary = dbAccessSummary(db, findings, longSeconds);
    const result = {
      runbook: rb.name,
      target: input.target,
      healthy: summary.healthy,
      summary: summary.lines,
      findings,
    };
    await reportScheduledFinding(rb, input, result);
    return result;
  });
}

export function migrationState(
  applied: string[] | null,
  code: { heads: string[]; known: string[] } | null,
): DbAccessFindings['migrationState'] {
  if (code === null) return 'no-alembic-dir';
  if (applied === null || applied.length === 0) return 'not-migrated';
  if (applied.some((r) => !code.known.includes(r))) return 'unknown-revision';
  const atHead = applied.length === code.heads.length && applied.every((r) => code.heads.includes(r));
  return atHead ? 'up-to-date' : 'behind';
}
