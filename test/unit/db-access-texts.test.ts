import { describe, expect, it } from 'vitest';
import { databaseLabel, dbAccessSummary } from '../../src/runbooks/db-access/texts.js';
import type { DbAccessFindings } from '../../src/runbooks/db-access/workflow.js';

const findings = (over: Partial<DbAccessFindings> = {}): DbAccessFindings =>
  ({
    connectivity: { user: 'ops', latencyMs: 3, serverVersion: '16.4', inRecovery: false },
    connections: { inUse: 10, max: 100, reservedForSuperuser: 3, percent: 10 },
    appliedRevisions: ['0005_check'],
    heads: ['0005_check'],
    migrationState: 'up-to-date',
    longTransactions: [],
    blockingLocks: [],
    ...over,
  }) as DbAccessFindings;

describe("db-access's summary", () => {
  it('is healthy at head with headroom, no long transaction and no lock wait', () => {
    const db = databaseLabel({ host: 'pg', port: 5432, database: 'gestiq' });
    expect(dbAccessSummary(db, findings(), 300)).toEqual({
      healthy: true,
      lines: [
        'Connected to pg:5432/gestiq as ops: select 1 in 3 ms, PostgreSQL 16.4.',
        'Connections: 10 of 100 in use (10%), 87 left for non-superusers.',
        'Migrations: at head (0005_check).',
        'No transaction open longer than 300s.',
        'No session is waiting on a lock.',
      ],
    });
  });

  it('is unhealthy behind head, with a standby, a long transaction and sessions waiting on one pid', () => {
    const s = dbAccessSummary(
      'db',
      findings({
        connectivity: { user: 'ops', latencyMs: 3, serverVersion: '16.4', inRecovery: true } as never,
        migrationState: 'behind',
        appliedRevisions: ['0004_imports_payments'],
        longTransactions: [{ pid: 41, user: null, state: 'idle in transaction', ageSeconds: 900 }] as never,
        blockingLocks: [{ blockingPid: 41 }, { blockingPid: 41 }] as never,
      }),
      300,
    );
    expect(s.healthy).toBe(false);
    expect(s.lines).toEqual([
      'Connected to db as ops: select 1 in 3 ms, PostgreSQL 16.4 (standby, read-only).',
      'Connections: 10 of 100 in use (10%), 87 left for non-superusers.',
      'Migrations: database at 0004_imports_payments, code heads are 0005_check: the database is behind (run release-migration, or migration-failed if an upgrade broke).',
      '1 transaction(s) open longer than 300s; oldest: pid 41 (?, idle in transaction) for 900s.',
      '2 session(s) waiting on locks held by pid 41.',
    ]);
  });
});
