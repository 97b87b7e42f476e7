import { execa } from 'execa';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceActivities } from '../src/activities/services.js';
import { TargetRegistry } from '../src/targets.js';
import {
  finished,
  fixtureApp,
  gateOpened,
  historyText,
  PG,
  sql,
  startRig,
  tmpDir,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { appDatabase, dropAllFor } from './support/databases.js';
import { celeryWorkerService, killWorker, workerFiles, writeWorkerEnv } from './support/imports.js';
import { startRedis, type TestRedis } from './support/redisserver.js';
import { until } from './support/wait.js';

// Redis (the broker) restarted in the middle of stuck-imports' re-enqueue, on a Redis of the
// test's own with a password and an fsynced append-only file. The publisher is frozen half-way
// (SIGSTOP), Redis goes down, the publisher resumes into a dead broker: the attempt fails, the
// re-enqueue is retried once Redis is back, the ledger keeps it from publishing what was already
// published, and the app's worker processes every item once, by its own per-item counts.
describe('Redis restarted during a re-enqueue', () => {
  const N = 3000;
  let redis: TestRedis;
  let counts: Redis;
  let rig: TestRig;
  let db: string;
  const files = workerFiles(tmpDir('redis-restart-'));
  const bob = { person: 'bob', roles: ['approver'] };

  beforeAll(async () => {
    redis = await startRedis();
    counts = redis.client();
    db = await appDatabase('0004_imports_payments', 'redis_restart');
    await sql(db, `insert into import_batches (tenant_id, status) values (1, 'processing')`);
    await sql(
      db,
      `insert into import_items (batch_id, payload, status, updated_at)
                   select (select max(id) from import_batches), 'row-' || g, 'queued', now() - interval '1 hour' from generate_series(1, ${N}) g`,
    );
    const targetsFile = writeTargets({
      'own-redis': {
        postgres: { ...PG, database: db },
        redis: { url: `redis://127.0.0.1:${redis.port}/0`, passwordEnv: 'OWN_REDIS_PASSWORD' },
        policy: { unsignedDecisions: 'allow' },
        // The worker starts with IMPORTS_ENABLED=0: nothing consumes while the messages are re-published.
        services: { 'imports-worker': celeryWorkerService(files, db, redis.url, { enabled: false }) },
        imports: {
          stuckAfter: '10m',
          logs: { file: files.logFile },
          service: 'imports-worker',
          celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', cwd: fixtureApp },
        },
      },
    });
    const env = { ...process.env, OWN_REDIS_PASSWORD: redis.password };
    await createServiceActivities(TargetRegistry.load(targetsFile, env)).serviceAction(
      'own-redis',
      'imports-worker',
      'start',
    );
    rig = await startRig(targetsFile, { env });
  });
  afterAll(async () => {
    await rig?.stop();
    await killWorker(files);
    counts?.disconnect();
    await redis?.stop();
    if (db) await dropAllFor(db);
  });

  const published = async () =>
    Number(
      (
        await sql<{ n: string }>(
          db,
          'select count(*) as n from durable_runbooks.import_reenqueue where published_at is not null',
        ).catch(() => [{ n: '0' }])
      )[0]!.n,
    );
  const publisher = async () => {
    const r = await execa('pgrep', ['-f', 'celery_tool.py gestiq_imports publish'], { reject: false });
    return r.stdout.split('\n').filter(Boolean).map(Number);
  };

  it(
    'the re-enqueue fails over to its retry, publishes the rest once, and every item is processed once',
    { timeout: 600_000 },
    async () => {
      const retry = { initialInterval: '1 second', maximumAttempts: 8, heartbeatTimeout: '30 seconds' };
      const { id } = await rig.client.start('stuck-imports', {
        target: 'own-redis',
        initiator: 'alice',
        input: { retry, batchSize: 50, verifyDeadline: '5m' },
      });
      await gateOpened(rig.client, id, 'remediate');
      await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);

      // Half-way through the publishing: the publisher is frozen, and Redis goes down under it.
      await until(async () => (await published()) >= 500, 'a sixth of the items to be published', 120_000, 5);
      const [pid] = await publisher();
      expect(pid, 'the publisher process').toBeDefined();
      process.kill(pid!, 'SIGSTOP');
      const before = await published();
      expect(before).toBeLessThan(N);
      await redis.stop();
      process.kill(pid!, 'SIGCONT');

      // The attempt fails on the dead broker; Temporal schedules the next one.
      const handle = rig.client.temporal.workflow.getHandle(id);
      let failure = '';
      await until(
        async () => {
          const d = await handle.describe();
          if (d.status.name !== 'RUNNING')
            throw new Error(
              `The run ended (${d.status.name}) instead of retrying the re-enqueue: ${(await rig.client.status(id)).error ?? ''}`,
            );
          const a = d.raw.pendingActivities?.find((p) => p.activityType?.name === 'importsReenqueue');
          failure = a?.lastFailure?.message ?? '';
          return (a?.attempt ?? 0) >= 2 && failure !== '';
        },
        'the re-enqueue to fail over to its retry',
        120_000,
      );
      expect(failure).toContain(
        `The broker redis://127.0.0.1:${redis.port}/0 could not be reached by the app's Celery`,
      );
      expect(failure).toContain('items already published are in the ledger and are not published again');
      expect(failure).not.toContain(redis.password);
      await redis.start();

      await gateOpened(rig.client, id, 'restart-worker', 300_000);
      writeWorkerEnv(files, db, redis.url, { enabled: true }); // the engineer fixes the flag, as the gate asks
      await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);
      const run = await finished(rig.client, id);
      expect(run.status, run.error).toBe('completed');
      expect(run.result).toMatchObject({ healthy: true, findings: { outcome: 'remedied' } });

      const step = run.journal!.filter((e) => e.step === 'reenqueue' && e.kind === 'step').at(-1)!;
      expect(step.outcome).toBe('ok');
      const r = step.evidence as { published: number; alreadyPublished: number };
      // The retry took over from the ledger: what was published before Redis went down was not again.
      expect(r.alreadyPublished).toBeGreaterThanOrEqual(before);
      expect(r.alreadyPublished + r.published).toBe(N);

      // By the app's own records: every item done, each moved to done exactly once.
      expect(
        await sql(
          db,
          `select status, count(*)::int as n from import_items where batch_id = (select max(id) from import_batches) group by 1`,
        ),
      ).toEqual([{ status: 'done', n: N }]);
      const processed = await counts.hgetall('fixture:processed');
      expect(Object.keys(processed)).toHaveLength(N);
      expect(Object.entries(processed).filter(([, c]) => c !== '1')).toEqual([]);

      // The Redis password was needed (requirepass) and never entered the history.
      const history = await historyText(rig.client, id);
      expect(history).toContain('BrokerUnavailable');
      expect(history).not.toContain(redis.password);
    },
  );
});
