import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbAccessFindings } from '../src/runbooks/db-access/workflow.js';
import { procedure } from '../src/runbooks/db-access/steps.js';
import type { RunbookResult } from '../src/contract/types.js';
import { until } from './support/wait.js';
import {
  alembic,
  createDatabase,
  dropDatabase,
  finished,
  pgTarget,
  sql,
  startRig,
  writeTargets,
  type TestRig,
} from './support/harness.js';

describe('db-access', () => {
  let rig: TestRig;
  let behind: string;
  let atHead: string;

  beforeAll(async () => {
    [behind, atHead] = await Promise.all([createDatabase(), createDatabase()]);
    await Promise.all([alembic(behind, ['upgrade', '0001_tenants']), alembic(atHead, ['upgrade', 'head'])]);
    const file = writeTargets({
      'test-db': pgTarget('test'),
      'behind-db': pgTarget(behind),
      'head-db': pgTarget(atHead),
      'nowhere-db': { postgres: { host: '127.0.0.1', port: 1, database: 'x', user: 'postgres' } },
    });
    rig = await startRig(file);
  });
  afterAll(async () => {
    await rig?.stop();
    await Promise.all([behind, atHead].filter(Boolean).map(dropDatabase));
  });

  it('reports connectivity, connections and migration state of the test database', async () => {
    const { id } = await rig.client.start('db-access', { target: 'test-db', initiator: 'alice' });
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(run.initiator).toBe('alice');
    const result = run.result as RunbookResult<DbAccessFindings>;
    const f = result.findings;
    expect(f.connectivity.database).toBe('test');
    expect(f.connectivity.serverMajor).toBe(15);
    const [settings] = await sql<{ max_connections: string }>('test', 'show max_connections');
    expect(f.connections.max).toBe(Number(settings!.max_connections));
    expect(f.connections.inUse).toBeGreaterThanOrEqual(1);
    expect(f.heads).toEqual(['0005_invoice_estado_check']);
    // The journal follows the declared procedure (what `runbook print` shows), step for step.
    expect(run.journal!.map((e) => e.step)).toEqual([
      'admit',
      ...procedure.steps.filter((p) => !p.onlyWith).map((p) => p.id),
    ]); // every run is admitted first
    expect(result.summary[0]).toMatch(
      /^Connected to 127\.0\.0\.1:5432\/test as postgres: select 1 in [\d.]+ ms, PostgreSQL 15/,
    );
  });

  it('says a database whose alembic_version is behind the heads is behind', async () => {
    const { id } = await rig.client.start('db-access', { target: 'behind-db' });
    const result = (await finished(rig.client, id)).result as RunbookResult<DbAccessFindings>;
    expect(result.findings.appliedRevisions).toEqual(['0001_tenants']);
    expect(result.findings.migrationState).toBe('behind');
    expect(result.healthy).toBe(false);
    expect(result.summary.join('\n')).toContain(
      'database at 0001_tenants, code heads are 0005_invoice_estado_check: the database is behind',
    );
  });

  it('says a database at head is up to date', async () => {
    const { id } = await rig.client.start('db-access', { target: 'head-db' });
    const result = (await finished(rig.client, id)).result as RunbookResult<DbAccessFindings>;
    expect(result.findings.migrationState).toBe('up-to-date');
    expect(result.summary).toContain('Migrations: at head (0005_invoice_estado_check).');
  });

  it('reports a session blocked by another one holding a lock, and the long transaction', async () => {
    await sql(atHead, 'create table if not exists lockme (id int)');
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: atHead });
    const waiter = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: atHead });
    await Promise.all([holder.connect(), waiter.connect()]);
    try {
      await holder.query('begin; lock table lockme in access exclusive mode');
      const waiting = waiter.query('select count(*) from lockme').catch(() => undefined);
      const holderPid = (holder as unknown as { processID: number }).processID;
      await until(
        async () =>
          (
            await sql(
              atHead,
              `select 1 from pg_stat_activity where pid = $1 and now() - xact_start > interval '1.5 seconds'`,
              [holderPid],
            )
          ).length > 0,
      );
      const { id } = await rig.client.start('db-access', { target: 'head-db', input: { longTransactionSeconds: 1 } });
      const result = (await finished(rig.client, id)).result as RunbookResult<DbAccessFindings>;
      expect(result.findings.blockingLocks.map((l) => l.blockingPid)).toContain(holderPid);
      expect(result.findings.longTransactions.map((t) => t.pid)).toContain(holderPid);
      expect(result.healthy).toBe(false);
      await holder.query('rollback');
      await waiting;
    } finally {
      await Promise.all([holder.end(), waiter.end()]);
    }
  });

  it('fails after its bounded retries with a message naming host and port when the database is unreachable', async () => {
    const { id } = await rig.client.start('db-access', {
      target: 'nowhere-db',
      input: { retry: { initialInterval: '100 ms', maximumAttempts: 2 } },
    });
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /^Step "select-1" failed: Cannot connect to PostgreSQL at 127\.0\.0\.1:1 \(target "nowhere-db"\)/,
    );
    const history = await rig.client.temporal.workflow.getHandle(id).fetchHistory();
    // History records the last attempt only: its number proves the retries stopped at the bound.
    const events = history.events ?? [];
    const ping = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'pgPing');
    const started = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(ping?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(2);
  });
});
