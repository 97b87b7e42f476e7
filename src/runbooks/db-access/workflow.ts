import type { PgBlockingLock, PgConnections, PgLongTransaction, PgPing } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import { reportScheduledFinding } from '../../engine/scheduled-check.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { DbAccessInput } from './definition.js';

/**
 * Seed 003 "Recuperar acceso a DB": check connectivity (`select 1`), then which migrations are
 * applied against the code's heads. We add what an on-call engineer looks at next: connection
 * headroom, long transactions and blocking locks. Read-only.
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
    const db = `${target.postgres?.host}:${target.postgres?.port}/${target.postgres?.database}`;
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
    const summary = summarize(db, findings, longSeconds);
    const result = {
      runbook: 'db-access',
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

function summarize(db: string, f: DbAccessFindings, longSeconds: number): { healthy: boolean; lines: string[] } {
  const lines: string[] = [];
  let healthy = true;
  const c = f.connectivity;
  lines.push(
    `Connected to ${db} as ${c.user}: select 1 in ${c.latencyMs} ms, PostgreSQL ${c.serverVersion}${c.inRecovery ? ' (standby, read-only)' : ''}.`,
  );
  const n = f.connections;
  const headroom = n.max - n.reservedForSuperuser - n.inUse;
  if (headroom <= Math.max(5, n.max * 0.1)) healthy = false;
  lines.push(`Connections: ${n.inUse} of ${n.max} in use (${n.percent}%), ${headroom} left for non-superusers.`);
  const applied = f.appliedRevisions?.join(', ') || 'none';
  const heads = f.heads?.join(', ') ?? '';
  switch (f.migrationState) {
    case 'up-to-date':
      lines.push(`Migrations: at head (${applied}).`);
      break;
    case 'behind':
      healthy = false;
      lines.push(
        `Migrations: database at ${applied}, code heads are ${heads}: the database is behind (run release-migration, or migration-failed if an upgrade broke).`,
      );
      break;
    case 'unknown-revision':
      healthy = false;
      lines.push(`Migrations: database at ${applied}, which the code does not know (heads: ${heads}).`);
      break;
    case 'not-migrated':
      lines.push(`Migrations: no alembic_version in the database; code heads are ${heads}.`);
      break;
    case 'no-alembic-dir':
      lines.push(`Migrations: database at ${applied}; the target names no alembic directory to compare with.`);
      break;
  }
  if (f.longTransactions.length > 0) {
    healthy = false;
    const oldest = f.longTransactions[0]!;
    lines.push(
      `${f.longTransactions.length} transaction(s) open longer than ${longSeconds}s; oldest: pid ${oldest.pid} (${oldest.user ?? '?'}, ${oldest.state ?? '?'}) for ${oldest.ageSeconds}s.`,
    );
  } else lines.push(`No transaction open longer than ${longSeconds}s.`);
  if (f.blockingLocks.length > 0) {
    healthy = false;
    const pids = [...new Set(f.blockingLocks.map((l) => l.blockingPid))];
    lines.push(`${f.blockingLocks.length} session(s) waiting on locks held by pid ${pids.join(', ')}.`);
  } else lines.push('No session is waiting on a lock.');
  return { healthy, lines };
}
