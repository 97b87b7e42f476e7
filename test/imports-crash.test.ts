import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunbookClient } from '../src/client.js';
import { createServiceActivities } from '../src/activities/services.js';
import { TargetRegistry } from '../src/targets.js';
import { finished, fixtureApp, PG, sql, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { appDatabase, dropAllFor } from './support/databases.js';
import { celeryWorkerService, claimRedisDb, killWorker, workerFiles } from './support/imports.js';
import { until } from './support/wait.js';
import { workerProcesses } from './support/worker-process.js';
import { serverOptions } from './support/temporal.js';

// A runbook worker killed with SIGKILL half-way through re-enqueueing 3,000 stuck items: a fresh
// worker takes the activity over, the ledger says what was already published, and every item
// ends processed exactly once (the fixture's task counts each transition to done).
describe('stuck-imports survives a worker killed mid-re-enqueue', () => {
  const N = 3000;
  let db: string;
  let redis: Awaited<ReturnType<typeof claimRedisDb>>;
  const files = workerFiles(tmpDir('imp-crash-'));
  const dataDir = tmpDir('imp-crash-data-');
  let connection: Connection;
  let targetsFile: string;
  let procs: ReturnType<typeof workerProcesses>;

  beforeAll(async () => {
    db = await appDatabase('0004_imports_payments', 'imp_crash');
    redis = await claimRedisDb();
    await sql(db, `insert into import_batches (tenant_id, status) values (1, 'processing')`);
    await sql(
      db,
      `insert into import_items (batch_id, payload, status, updated_at)
                   select (select max(id) from import_batches), 'row-' || g, 'queued', now() - interval '1 hour' from generate_series(1, ${N}) g`,
    );
    targetsFile = writeTargets({
      'imp-crash': {
        postgres: { ...PG, database: db },
        redis: { url: redis.url },
        policy: { unsignedDecisions: 'allow' },
        services: { 'imports-worker': celeryWorkerService(files, db, redis.url) },
        imports: {
          stuckAfter: '10m',
          logs: { file: files.logFile },
          service: 'imports-worker',
          celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', cwd: fixtureApp },
        },
      },
    });
    // The Celery worker runs (and declared its queue); the items' messages were lost.
    await createServiceActivities(TargetRegistry.load(targetsFile)).serviceAction(
      'imp-crash',
      'imports-worker',
      'start',
    );
    procs = workerProcesses(targetsFile, dataDir);
    connection = await Connection.connect(serverOptions());
  });
  afterAll(async () => {
    await procs?.killAll();
    await connection?.close();
    await killWorker(files);
    await redis?.release();
    if (db) await dropAllFor(db);
  });

  it('the run completes, none is lost and none is processed twice', async () => {
    const taskQueue = uniqueName('tq_imp_crash');
    const { proc } = await procs.start(taskQueue, 'beat:importsReenqueue:10'); // killed after its 10th batch
    const client = new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => TargetRegistry.load(targetsFile),
    });
    const retry = {
      initialInterval: '200 ms',
      maximumAttempts: 3,
      activityTimeout: '15 seconds',
      heartbeatTimeout: '3 seconds',
    };
    const { id } = await client.start('stuck-imports', {
      target: 'imp-crash',
      initiator: 'alice',
      input: { retry, batchSize: 100, verifyDeadline: '5m' },
    });
    await until(
      async () => (await client.status(id)).pendingGates.some((g) => g.gate === 'remediate'),
      'the remediate gate',
      90_000,
    );
    await client.decide(id, 'remediate', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });

    const killed = await proc;
    expect(killed.signal).toBe('SIGKILL');
    const partly = Number(
      (
        await sql<{ n: string }>(
          db,
          'select count(*) as n from durable_runbooks.import_reenqueue where published_at is not null',
        )
      )[0]!.n,
    );
    expect(partly).toBe(1000); // 10 batches of 100 published and marked; the 11th never started

    await procs.start(taskQueue);
    const run = await finished(client, id);
    expect(run.status).toBe('completed');
    const reenqueue = run.journal!.filter((e) => e.step === 'reenqueue' && e.kind === 'step');
    expect(reenqueue.at(-1)!.outcome).toBe('ok');
    const result = reenqueue.at(-1)!.evidence as { published: number; alreadyPublished: number };
    expect(result).toMatchObject({ alreadyPublished: 1000, published: N - 1000 });

    expect(
      await sql(
        db,
        `select status, count(*)::int as n from import_items where payload like 'row-%' and batch_id = (select max(id) from import_batches) group by 1`,
      ),
    ).toEqual([{ status: 'done', n: N }]);
    const counts = await redis.redis.hgetall('fixture:processed');
    expect(Object.keys(counts)).toHaveLength(N);
    expect(Object.values(counts).every((c) => c === '1')).toBe(true);
    expect(
      Number((await sql<{ n: string }>(db, 'select count(*) as n from durable_runbooks.import_reenqueue'))[0]!.n),
    ).toBe(N);
  });
});
