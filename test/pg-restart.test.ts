import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, fixtureApp, gateOpened, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { startCluster, type TestCluster } from './support/pgcluster.js';
import { until } from './support/wait.js';

// PostgreSQL restarted in the middle of release-migration's dump, on a cluster of the test's own
// with SCRAM passwords (the password really is needed, and must never enter the history: the
// suite's secret scan reads this run too). The dump fails over to its retry, dumps again from
// scratch, and the release goes through with a whole, verified dump.
describe('PostgreSQL restarted during a backup', () => {
  let cluster: TestCluster;
  let rig: TestRig;
  const backups = tmpDir('pg-restart-backups-');
  const url = () => `postgresql+psycopg2://postgres:${cluster.password}@127.0.0.1:${cluster.port}/gestiq`;

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.query('postgres', 'create database gestiq');
    await execa('/usr/bin/python3', ['-m', 'alembic', 'upgrade', '0003_invoices'], {
      cwd: fixtureApp,
      env: { DATABASE_URL: url() },
    });
    // Enough rows that pg_dump runs for a while: the restart lands mid-dump.
    await cluster.query(
      'gestiq',
      `insert into products (tenant_id, sku, price_cents) select 1, 'sku-' || g, g from generate_series(1, 1000000) g`,
    );
    rig = await startRig(
      writeTargets({
        'own-pg': {
          postgres: {
            host: cluster.host,
            port: cluster.port,
            database: 'gestiq',
            user: 'postgres',
            passwordEnv: 'OWN_PG_PASSWORD',
          },
          alembic: { dir: fixtureApp },
          backups: { dir: backups, retention: '1d' },
          policy: { unsignedDecisions: 'allow' },
        },
      }),
      { env: { ...process.env, OWN_PG_PASSWORD: cluster.password } },
    );
  });
  afterAll(async () => {
    await rig?.stop();
    await cluster?.stop();
  });

  const partialWithData = () => {
    const root = path.join(backups, 'own-pg');
    if (!existsSync(root)) return false;
    return readdirSync(root)
      .filter((f) => f.includes('.partial-'))
      .some((f) => readdirSync(path.join(root, f)).some((x) => statSync(path.join(root, f, x)).size > 0));
  };

  it('the dump fails over to its retry and the release completes with a whole dump', { timeout: 600_000 }, async () => {
    const { id } = await rig.client.start('release-migration', {
      target: 'own-pg',
      initiator: 'alice',
      input: { toRevision: '0004_imports_payments', retry: { initialInterval: '2 seconds', maximumAttempts: 5 } },
    });
    await until(partialWithData, 'pg_dump to be writing', 120_000, 50).catch(async (err: Error) => {
      const st = await rig.client.status(id);
      throw new Error(
        `${err.message}; run ${st.status}: ${st.error ?? ''} ${JSON.stringify(st.journal?.slice(-3).map((e) => [e.step, e.outcome, e.error]))}`,
      );
    });
    await cluster.restart();

    await gateOpened(rig.client, id, 'upgrade', 300_000);
    await rig.client.decide(id, 'upgrade', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
    const run = await finished(rig.client, id);
    expect(run.status, run.error).toBe('completed');

    // The dump's activity ran more than once: the restart broke the first attempt.
    const history = await rig.client.temporal.workflow.getHandle(id).fetchHistory();
    const events = history.events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'pgDumpBackup');
    const started = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);

    // Whole: every file matches the manifest by our own hashing; no partial directory is left.
    const dump = run.journal!.find((e) => e.kind === 'step' && e.step === 'dump' && e.outcome === 'ok')!;
    const dir = (dump.evidence as { path: string }).path;
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      files: Array<{ file: string; sha256: string }>;
    };
    for (const f of manifest.files)
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(dir, f.file)))
          .digest('hex'),
      ).toBe(f.sha256);
    expect((dump.evidence as { tables: Record<string, number> }).tables['public.products']).toBe(1_000_010);
    expect(readdirSync(path.join(backups, 'own-pg')).filter((f) => f.includes('.partial-'))).toEqual([]);
    expect((await cluster.query('gestiq', 'select version_num from alembic_version')).rows).toEqual([
      { version_num: '0004_imports_payments' },
    ]);
  });
});
