import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureApp, gateOpened, PG, sql, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { appDatabase, dropAllFor } from './support/databases.js';
import {
  celeryWorkerService,
  claimRedisDb,
  killWorker,
  publishItems,
  workerFiles,
  type WorkerFiles,
} from './support/imports.js';
import { until } from './support/wait.js';

// A huge backlog: 100,000 items stuck `queued` whose messages the broker lost, the worker down.
// The re-enqueue runs in batches, heartbeating its progress (read from the server while it runs),
// and publishes each item exactly once with its ledger row (counted in the database and the queue).
describe('stuck-imports with a 100,000-item backlog', () => {
  const ITEMS = 100_000;
  let rig: TestRig;
  let db: string;
  let redis: Awaited<ReturnType<typeof claimRedisDb>>;
  let files: WorkerFiles;

  beforeAll(async () => {
    db = await appDatabase('0004_imports_payments', 'imp_backlog');
    redis = await claimRedisDb();
    files = workerFiles(tmpDir('imp-backlog-'));
    await sql(db, `update import_batches set status = 'processing' where id = 1`);
    await sql(
      db,
      `insert into import_items (batch_id, payload, status, updated_at) select 1, 'backlog-' || g, 'queued', now() - interval '1 hour' from generate_series(1, ${ITEMS}) g`,
    );
    // The app used this broker (its queue bindings exist), then the messages were lost.
    await publishItems(redis.url, [1]);
    await redis.redis.del('imports');
    rig = await startRig(
      writeTargets({
        backlog: {
          postgres: { ...PG, database: db },
          redis: { url: redis.url },
          services: { 'imports-worker': celeryWorkerService(files, db, redis.url) },
          imports: {
            stuckAfter: '10m',
            logs: { file: files.logFile },
            celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', queue: 'imports', cwd: fixtureApp },
            service: 'imports-worker',
          },
          policy: { unsignedDecisions: 'allow' },
        },
      }),
    );
  });
  afterAll(async () => {
    await killWorker(files);
    await rig?.stop();
    await redis?.release();
    if (db) await dropAllFor(db);
  });

  it(
    're-enqueues them in batches with heartbeats showing progress, each exactly once',
    { timeout: 900_000 },
    async () => {
      const { id } = await rig.client.start('stuck-imports', {
        target: 'backlog',
        initiator: 'alice',
        input: { batchSize: 5000, retry: { heartbeatTimeout: '5 seconds' } },
      });
      await gateOpened(rig.client, id, 'remediate', 120_000).catch(async (err: Error) => {
        const st = await rig.client.status(id);
        throw new Error(
          `${err.message}; journal: ${JSON.stringify(st.journal?.slice(-4).map((e) => [e.step, e.outcome, e.durationMs, e.error]))}`,
        );
      });
      expect((await rig.client.status(id)).pendingGates[0]!.prompt).toContain(
        `re-enqueue the ${ITEMS} stuck item(s) through the app's Celery app, each once`,
      );
      await rig.client.decide(id, 'remediate', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });

      // Progress as an operator sees it: the pending activity's last heartbeat, read from the server.
      const seen = new Set<number>();
      const handle = rig.client.temporal.workflow.getHandle(id);
      await until(
        async () => {
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          for (const a of pending) {
            const data = a.heartbeatDetails?.payloads?.[0]?.data;
            // Before its first batch the step's heartbeats carry no progress yet (src/auto-heartbeat.ts keeps it alive).
            if (data?.length)
              seen.add((JSON.parse(Buffer.from(data).toString('utf8')) as { published: number }).published);
          }
          const st = await rig.client.status(id);
          // A run that ended (the re-enqueue failed) says why at once instead of waiting out the deadline.
          if (st.status !== 'running' && st.status !== 'waiting')
            throw new Error(
              `the run ended ${st.status}: ${st.error ?? ''} ${JSON.stringify(st.journal?.slice(-3).map((e) => [e.step, e.outcome, e.error]))}`,
            );
          return st.pendingGates.some((g) => g.gate === 'restart-worker');
        },
        'the re-enqueue to finish',
        600_000,
        250,
      );
      const progress = [...seen].sort((a, b) => a - b);
      // Whole batches only (0 while the first one is on its way); the last heartbeat (all published)
      // may be read before the activity completes.
      expect(progress.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      expect(progress.every((n) => n >= 0 && n <= ITEMS && n % 5000 === 0)).toBe(true);

      // Every item once: a ledger row each, one message each in the queue, none done twice.
      expect(await redis.redis.llen('imports')).toBe(ITEMS);
      const [ledger] = await sql<{ rows: number; items: number; tasks: number; unpublished: number }>(
        db,
        'select count(*)::int as rows, count(distinct item_id)::int as items, count(distinct task_id)::int as tasks, count(*) filter (where published_at is null)::int as unpublished from durable_runbooks.import_reenqueue',
      );
      expect(ledger).toEqual({ rows: ITEMS, items: ITEMS, tasks: ITEMS, unpublished: 0 });
      const run = await rig.client.status(id);
      expect(run.journal?.find((e) => e.step === 'reenqueue' && e.outcome === 'ok')?.evidence).toMatchObject({
        published: ITEMS,
        batches: ITEMS / 5000,
      });
      await rig.client.abort(id, 'alice', 'backlog test: not restarting the worker');
    },
  );
});
