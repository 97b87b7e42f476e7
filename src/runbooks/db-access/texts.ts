import type { DbAccessFindings } from './workflow.js';

/** db-access's texts: the database it reached, and its summary. */

/** The database as the summary names it: host:port/database. */
export function databaseLabel(pg: { host?: string; port?: number; database?: string } | undefined): string {
  return `${pg?.host}:${pg?.port}/${pg?.database}`;
}

/** The verdict and its lines: connectivity, connection headroom, migrations, long transactions, lock waits. */
export function dbAccessSummary(
  db: string,
  f: DbAccessFindings,
  longSeconds: number,
): { healthy: boolean; lines: string[] } {
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
