import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceActivities } from '../src/activities/services.js';
import { TargetRegistry } from '../src/targets.js';
import {
  fixtureApp,
  finished,
  gateOpened,
  PG,
  sql,
  startRig,
  tmpDir,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { appDatabase, dropAllFor } from './support/databases.js';
import {
  celeryWorkerService,
  claimRedisDb,
  killWorker,
  publishItems,
  workerFiles,
  writeWorkerEnv,
  type WorkerFiles,
} from './support/imports.js';
import { startRedis, type TestRedis } from './support/redisserver.js';

// stuck-imports on the fixture's real pipeline: PostgreSQL import tables, a real Celery worker on
// a real Redis broker (a DB number per scenario). Each scenario creates its stuck state for real
// and asserts that every stuck item ends processed exactly once (the fixture's task counts).
describe('stuck-imports', () => {
  let rig: TestRig;
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };
  type Scenario = { db: string; redis: Awaited<ReturnType<typeof claimRedisDb>>; files: WorkerFiles };
  const s: Record<string, Scenario> = {};
  let missingTables: string;
  // A broker of the test's own, with no persistence, that the test restarts (the machine's Redis serves the other tests).
  let own: { redis: TestRedis; db: string; files: WorkerFiles } | undefined;

  async function scenario(name: string, opts: { enabled?: boolean } = {}): Promise<Scenario> {
    const db = await appDatabase('0004_imports_payments', `imp_${name}`);
    const redis = await claimRedisDb();
    const files = workerFiles(tmpDir(`imp-${name}-`));
    celeryWorkerService(files, db, redis.url, opts);
    return (s[name] = { db, redis, files });
  }
  const imports = (x: { files: WorkerFiles }, withService = true) => ({
    imports: {
      stuckAfter: '0s',
      logs: { file: x.files.logFile },
      celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', queue: 'imports', cwd: fixtureApp },
      ...(withService ? { service: 'imports-worker' } : {}),
    },
  });
  const target = (x: Scenario, opts: { enabled?: boolean } = {}) => ({
    postgres: { ...PG, database: x.db },
    redis: { url: x.redis.url },
    services: { 'imports-worker': celeryWorkerService(x.files, x.db, x.redis.url, opts) },
    policy: { unsignedDecisions: 'allow' },
    ...imports(x),
  });
  const statuses = async (x: { db: string }) =>
    Object.fromEntries(
      (await sql<{ id: number; status: string }>(x.db, 'select id, status from import_items order by id')).map((r) => [
        r.id,
        r.status,
      ]),
    );
  const processed = async (x: Scenario) => x.redis.redis.hgetall('fixture:processed');
  const services = () => createServiceActivities(TargetRegistry.load(targetsFile));
  let targetsFile: string;

  beforeAll(async () => {
    await scenario('lost');
    await scenario('disabled', { enabled: false });
    await scenario('locks');
    await scenario('wrongdb');
    await scenario('failed');
    missingTables = await appDatabase('0003_invoices', 'imp_notables');
    own = {
      redis: await startRedis({ persistence: false }),
      db: await appDatabase('0004_imports_payments', 'imp_restarted'),
      files: workerFiles(tmpDir('imp-restarted-')),
    };
    targetsFile = writeTargets({
      lost: target(s.lost!),
      disabled: target(s.disabled!, { enabled: false }),
      locks: target(s.locks!),
      failed: target(s.failed!),
      restarted: {
        postgres: { ...PG, database: own.db },
        redis: { url: `redis://127.0.0.1:${own.redis.port}/0`, passwordEnv: 'RESTARTED_REDIS_PASSWORD' },
        services: { 'imports-worker': celeryWorkerService(own.files, own.db, own.redis.url) },
        policy: { unsignedDecisions: 'allow' },
        ...imports(own),
      },
      // The app's tables, but a Redis DB the app never used (a wrong DB number).
      wrongdb: {
        postgres: { ...PG, database: s.lost!.db },
        redis: { url: s.wrongdb!.redis.url },
        policy: { unsignedDecisions: 'allow' },
        ...imports(s.wrongdb!, false),
      },
      unreachable: {
        postgres: { ...PG, database: s.lost!.db },
        redis: { url: 'redis://127.0.0.1:1/0' },
        ...imports(s.lost!, false),
      },
      // Its host-local steps go to a task queue no worker of ours polls.
      elsewhere: {
        postgres: { ...PG, database: s.lost!.db },
        redis: { url: s.lost!.redis.url },
        taskQueue: 'gestiq-host-nobody-polls',
        ...imports(s.lost!, false),
      },
      notables: {
        postgres: { ...PG, database: missingTables },
        redis: { url: s.wrongdb!.redis.url },
        ...imports(s.wrongdb!, false),
      },
    });
    rig = await startRig(targetsFile, { env: { ...process.env, RESTARTED_REDIS_PASSWORD: own.redis.password } });
  });
  afterAll(async () => {
    for (const x of Object.values(s)) await killWorker(x.files); // first: a hung rig.stop() must not leave workers consuming
    if (own) await killWorker(own.files);
    await rig?.stop();
    if (own) {
      await own.redis.stop();
      await dropAllFor(own.db);
    }
    for (const x of Object.values(s)) {
      await x.redis.release();
      await dropAllFor(x.db);
    }
    if (missingTables) await dropAllFor(missingTables);
  });

  it('dead worker and lost messages: re-enqueues each stuck item once (ledger), restarts the worker, and every item is processed exactly once', async () => {
    const x = s.lost!;
    // The app queued items 1–5 and published them; the broker lost the messages; the worker is down.
    await sql(x.db, `update import_items set status = 'queued' where id <= 5`);
    await sql(x.db, `update import_batches set status = 'processing' where id = 1`);
    await publishItems(x.redis.url, [1, 2, 3, 4, 5]);
    await x.redis.redis.del('imports');

    const { id } = await rig.client.start('stuck-imports', {
      target: 'lost',
      initiator: 'alice',
      input: { retry, verifyDeadline: '60s', batchSize: 2 },
    });
    await gateOpened(rig.client, id, 'remediate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(gate.prompt).toContain('Cause: dead-worker: The imports worker is not running');
    expect(gate.prompt).toContain('Cause: lost-messages: 5 item(s) waiting');
    expect(gate.prompt).toContain('0 message(s) in queue imports and 0 in flight: 5 or more have no message');
    expect(gate.prompt).toContain("re-enqueue the 5 stuck item(s) through the app's Celery app, each once");
    expect(await statuses(x)).toMatchObject({ 1: 'queued', 5: 'queued', 6: 'done' }); // nothing touched before approval
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);

    await gateOpened(rig.client, id, 'restart-worker');
    expect(await x.redis.redis.llen('imports')).toBe(5); // re-published, waiting for a worker
    await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(run.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'remedied', reenqueue: { published: 5, batches: 3 }, restart: { verified: true } },
    });
    const summary = (run.result as { summary: string[] }).summary;
    expect(summary).toContain(
      `Re-enqueued 5 item(s) in 3 batch(es), generation ${(run.result as { findings: { reenqueue: { generation: string } } }).findings.reenqueue.generation} (ledger durable_runbooks.import_reenqueue).`,
    );
    expect(summary.at(-1)).toMatch(/^Verified: none of the stuck items is waiting any more/);

    const after = await statuses(x);
    for (const i of [1, 2, 3, 4, 5]) expect(after[i]).toBe('done');
    expect(await processed(x)).toEqual({ 1: '1', 2: '1', 3: '1', 4: '1', 5: '1' });
    expect((await sql(x.db, 'select status from import_batches where id = 1'))[0]).toEqual({ status: 'done' });
    const ledger = await sql<{ item_id: string; task_id: string; published_at: Date | null }>(
      x.db,
      'select item_id, task_id, published_at from durable_runbooks.import_reenqueue order by item_id',
    );
    expect(ledger.map((l) => Number(l.item_id))).toEqual([1, 2, 3, 4, 5]);
    expect(ledger.every((l) => l.published_at !== null && /^rb-[0-9a-f]{12}-\d+$/.test(l.task_id))).toBe(true);

    // The timeline tells the story: cause, evidence, both decisions, the result.
    const md = (await import('../src/audit/timeline.js')).renderMarkdown(await rig.client.timeline(id));
    expect(md).toContain('Cause: lost-messages: 5 item(s) waiting');
    expect(md).toMatch(/remediate[^\n]*\n?[^\n]*bob \(update, unsigned\) \| approved/);
    expect(md).toMatch(/restart-worker[^\n]*\n?[^\n]*bob \(update, unsigned\) \| approved/);
    expect(md).toContain('Re-enqueued 5 item(s) in 3 batch(es)');
    expect(md).toContain('Verified: none of the stuck items is waiting any more');
  });

  it("IMPORTS_ENABLED=0: diagnosed from the worker's own start-up line; restarted once the flag is fixed; the queued messages drain", async () => {
    const x = s.disabled!;
    await services().serviceAction('disabled', 'imports-worker', 'start');
    await sql(x.db, `update import_items set status = 'queued' where id in (2, 3)`);
    await publishItems(x.redis.url, [2, 3]);

    const { id } = await rig.client.start('stuck-imports', {
      target: 'disabled',
      initiator: 'alice',
      input: { retry, verifyDeadline: '60s' },
    });
    await gateOpened(rig.client, id, 'restart-worker');
    const run0 = await rig.client.status(id);
    const gate = run0.pendingGates.find((g) => g.gate === 'restart-worker')!;
    expect(gate.prompt).toContain(
      'Its last start-up said IMPORTS_ENABLED=0: set IMPORTS_ENABLED=1 in its environment BEFORE approving',
    );
    expect(gate.evidence).toMatchObject({
      flag: {
        variable: 'IMPORTS_ENABLED',
        value: '0',
        line: expect.stringContaining('app.startup: IMPORTS_ENABLED=0: imports are disabled') as unknown,
      },
    });
    expect(run0.pendingGates.some((g) => g.gate === 'remediate')).toBe(false); // messages are there: nothing to re-enqueue
    expect(await x.redis.redis.llen('imports')).toBe(2);

    writeWorkerEnv(x.files, x.db, x.redis.url, { enabled: true }); // the engineer fixes the flag
    await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'remedied', diagnosis: { causes: [{ cause: 'disabled-flag' }] } },
    });
    expect(run.journal!.some((e) => e.step === 'reenqueue')).toBe(false);
    expect(await statuses(x)).toMatchObject({ 2: 'done', 3: 'done' });
    expect(await processed(x)).toEqual({ 2: '1', 3: '1' });
    expect(readFileSync(x.files.logFile, 'utf8')).toContain('imports worker ready: IMPORTS_ENABLED=1');
  });

  it('IMPORTS_ENABLED=0 approved for restart without fixing the flag: stops at once, saying the worker is still disabled', async () => {
    const x = s.disabled!;
    writeWorkerEnv(x.files, x.db, x.redis.url, { enabled: false });
    await services().serviceAction('disabled', 'imports-worker', 'restart');
    await sql(x.db, `update import_items set status = 'queued' where id = 4`);
    await publishItems(x.redis.url, [4]);
    const { id } = await rig.client.start('stuck-imports', {
      target: 'disabled',
      initiator: 'alice',
      input: { retry, verifyDeadline: '10m' },
    });
    await gateOpened(rig.client, id, 'restart-worker');
    await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({
      healthy: false,
      findings: { outcome: 'still-stuck', workerAfter: { flag: { value: '0' } } },
    });
    expect((run.result as { summary: string[] }).summary.at(-1)).toMatch(
      /^Restarted imports-worker, but its new start-up line still says IMPORTS_ENABLED=0 .*Set IMPORTS_ENABLED=1 in the service's environment and run stuck-imports again\.$/,
    );
    expect(await statuses(x)).toMatchObject({ 4: 'queued' });
  });

  it('a stale lock with no TTL and a session idle in a transaction holding the row: both removed, the blocked item goes through', async () => {
    const x = s.locks!;
    await services().serviceAction('locks', 'imports-worker', 'start');
    await x.redis.redis.set('imports:lock:batch:9', 'crashed-worker'); // no TTL: nothing will release it
    await x.redis.redis.set('imports:lock:item:99', 'live', 'EX', 600); // a live lock: kept
    const holder = new pg.Client({ ...PG, database: x.db });
    holder.on('error', () => undefined);
    await holder.connect();
    await sql(x.db, `update import_items set status = 'queued' where id = 5`);
    await holder.query('begin');
    await holder.query('select * from import_items where id = 5 for update');
    await publishItems(x.redis.url, [5]);

    // A generous deadline: the verify returns as soon as the item moves; a loaded CI machine took over 60 s once.
    const { id } = await rig.client.start('stuck-imports', {
      target: 'locks',
      initiator: 'alice',
      input: { retry, verifyDeadline: '180s' },
    });
    await gateOpened(rig.client, id, 'remediate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(gate.prompt).toContain(
      'Cause: stale-lock: 1 lock key(s) with no TTL, which nothing will release: imports:lock:batch:9.',
    );
    expect(gate.prompt).toMatch(
      /Cause: blocked-rows: pid \d+ \(postgres\) idle in a transaction for \d+s holding locks on import_items, blocking 1 session\(s\)/,
    );
    expect(gate.prompt).not.toContain('lost-messages'); // the item's message is in flight, held by the blocked worker
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({
      healthy: true,
      findings: {
        clearedLocks: { deleted: ['imports:lock:batch:9'] },
        endedSessions: { ended: [expect.any(Number) as unknown] },
      },
    });
    expect(await x.redis.redis.exists('imports:lock:batch:9')).toBe(0);
    expect(await x.redis.redis.ttl('imports:lock:item:99')).toBeGreaterThan(0);
    expect(await statuses(x)).toMatchObject({ 5: 'done' });
    expect(await processed(x)).toEqual({ 5: '1' });
    await holder.end().catch(() => undefined);
    // Longer than the verify deadline: if the item never moves, the run ends "still stuck" and the
    // assertions above say why, instead of the test timing out with nothing to read (CI, loaded).
  }, 240_000);

  it("Redis restarted without persistence (messages and the queue's binding gone): restarts the worker first, sees the binding back, then re-enqueues; each item processed once", async () => {
    const x = own!;
    // The worker ran on this broker (its start-up banner names it), then died; the app queued and published items 1–4.
    await services().serviceAction('restarted', 'imports-worker', 'start');
    await services().serviceAction('restarted', 'imports-worker', 'stop');
    await sql(x.db, `update import_items set status = 'queued' where id <= 4`);
    await publishItems(x.redis.url, [1, 2, 3, 4]);
    // Redis restarts with nothing on disk: the messages and the binding go together.
    await x.redis.stop();
    await x.redis.start();
    const broker = x.redis.client();
    try {
      expect(await broker.dbsize()).toBe(0);
      const shown = `redis://127.0.0.1:${x.redis.port}/0`;

      const { id } = await rig.client.start('stuck-imports', {
        target: 'restarted',
        initiator: 'alice',
        input: { retry, verifyDeadline: '60s' },
      });
      await gateOpened(rig.client, id, 'restart-worker');
      const first = await rig.client.status(id);
      expect(first.pendingGates.map((g) => g.gate)).toEqual(['restart-worker']); // the restart comes before any re-enqueue
      const restartGate = first.pendingGates[0]!;
      expect(restartGate.prompt).toContain(
        `The broker lost its data: Queue imports is not declared in ${shown} (no _kombu.binding.imports), yet this is the app's broker: the worker's last start-up banner names it (.> transport:   ${shown}, queues imports) and 4 item(s) wait for queue imports.`,
      );
      expect(restartGate.prompt).toMatch(
        /Redis has been up \d+s, less than the \d+s since the oldest stuck item was last updated: it restarted after the items were queued and keeps nothing across a restart \(appendonly no, no save points\); this DB holds 0 key\(s\)\./,
      );
      expect(restartGate.prompt).toContain(
        'restart it first, check that the binding is back, then re-enqueue. After the restart the runbook checks the binding; only if it is back does it ask to re-enqueue (re-enqueue the 4 stuck item(s)',
      );
      expect(restartGate.evidence).toMatchObject({
        broker: {
          bindingPresent: false,
          queue: 'imports',
          worker: { url: shown, sameAsTarget: true },
          redis: { keysInDb: 0, appendOnly: false },
        },
      });
      expect(JSON.stringify(restartGate)).not.toContain(x.redis.password);
      expect(await broker.llen('imports')).toBe(0);
      await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);

      await gateOpened(rig.client, id, 'remediate');
      const remediate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
      expect(remediate.prompt).toContain(
        `The restarted worker declared queue imports again in ${shown} (_kombu.binding.imports is back after`,
      );
      expect(remediate.prompt).toContain('Plan: re-enqueue the 4 stuck item(s)');
      expect(await broker.exists('_kombu.binding.imports')).toBe(1);
      await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);

      const run = await finished(rig.client, id);
      expect(run.status, run.error).toBe('completed');
      expect(run.result).toMatchObject({
        healthy: true,
        findings: {
          outcome: 'remedied',
          diagnosis: { causes: [{ cause: 'dead-worker' }, { cause: 'lost-messages' }, { cause: 'broker-restarted' }] },
          bindingAfterRestart: { known: true },
          reenqueue: { published: 4 },
        },
      });
      const steps = run.journal!.filter((e) => e.kind === 'step').map((e) => e.step);
      expect(steps.indexOf('restart')).toBeLessThan(steps.indexOf('check-binding'));
      expect(steps.indexOf('check-binding')).toBeLessThan(steps.indexOf('reenqueue'));
      expect((run.result as { summary: string[] }).summary).toContain(
        `Restarted imports-worker first: it declared queue imports again (_kombu.binding.imports back after ${Math.round((run.result as { findings: { bindingAfterRestart: { waitedMs: number } } }).findings.bindingAfterRestart.waitedMs / 1000)}s).`,
      );
      expect(await statuses(x)).toMatchObject({ 1: 'done', 2: 'done', 3: 'done', 4: 'done' });
      expect(await broker.hgetall('fixture:processed')).toEqual({ 1: '1', 2: '1', 3: '1', 4: '1' });
    } finally {
      broker.disconnect();
    }
  });

  it("the binding still missing after the worker's restart (it now consumes another broker): stops there, nothing published", async () => {
    const x = own!;
    // The worker that last started here named this broker; it is down and the broker lost its data again.
    await services().serviceAction('restarted', 'imports-worker', 'stop');
    await sql(x.db, `update import_items set status = 'queued' where id in (5, 6)`);
    const broker = x.redis.client();
    try {
      await broker.flushdb();
      const { id } = await rig.client.start('stuck-imports', {
        target: 'restarted',
        initiator: 'alice',
        input: { retry, verifyDeadline: '60s' },
      });
      await gateOpened(rig.client, id, 'restart-worker');
      // Meanwhile someone pointed the worker at DB 1: after the restart it declares its queue there, not here.
      writeWorkerEnv(x.files, x.db, x.redis.url.replace(/\/0$/, '/1'));
      await rig.client.decide(id, 'restart-worker', { decision: 'approve' }, bob);
      const run = await finished(rig.client, id);
      expect(run.result).toMatchObject({
        healthy: false,
        findings: { outcome: 'still-stuck', bindingAfterRestart: { known: false } },
      });
      expect((run.result as { summary: string[] }).summary.at(-1)).toMatch(
        new RegExp(
          `^Restarted imports-worker, but queue imports is still not declared in redis://127\\.0\\.0\\.1:${x.redis.port}/0 after \\d+s: the restarted worker does not consume this broker\\. Nothing was re-enqueued`,
        ),
      );
      expect(run.journal!.some((e) => e.step === 'reenqueue' || e.step === 'remediate')).toBe(false);
      expect(await broker.llen('imports')).toBe(0);
      expect(await statuses(x)).toMatchObject({ 5: 'queued', 6: 'queued' });
    } finally {
      await services().serviceAction('restarted', 'imports-worker', 'stop');
      broker.disconnect();
    }
  });

  it('retryFailed ("reintentar tarea"): each failed item is set back to queued and published once through the ledger; a later run does not retry it again', async () => {
    const x = s.failed!;
    await services().serviceAction('failed', 'imports-worker', 'start');
    await sql(x.db, `update import_items set status = 'failed' where id in (2, 3)`);
    // Without the input, failed items are only reported.
    const plain = await finished(
      rig.client,
      (await rig.client.start('stuck-imports', { target: 'failed', initiator: 'alice', input: { retry } })).id,
    );
    expect(plain.result).toMatchObject({ healthy: true, findings: { outcome: 'healthy' } });
    expect((plain.result as { summary: string[] }).summary).toContain(
      '2 item(s) failed (failed): not retried; run with retryFailed: true to retry each once.',
    );

    const { id } = await rig.client.start('stuck-imports', {
      target: 'failed',
      initiator: 'alice',
      input: { retry, verifyDeadline: '60s', retryFailed: true },
    });
    await gateOpened(rig.client, id, 'remediate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(gate.prompt).toContain(
      'Plan: retry the 2 failed item(s) (failed; ids 2, 3), each once ever: set back to waiting and published through the same ledger',
    );
    expect(gate.evidence).toMatchObject({ failed: { count: 2, toRetry: 2, sample: [2, 3], alreadyRetried: 0 } });
    expect(await statuses(x)).toMatchObject({ 2: 'failed', 3: 'failed' }); // nothing touched before approval
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status, run.error).toBe('completed');
    expect(run.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'remedied', reenqueue: { published: 2, retried: 2, retriedSample: [2, 3] } },
    });
    expect((run.result as { summary: string[] }).summary).toContain(
      'Retried 2 failed item(s), each once (ids 2, 3): set back to waiting and published; the ledger keeps any later run from retrying them again.',
    );
    expect(await statuses(x)).toMatchObject({ 2: 'done', 3: 'done' });
    expect(await processed(x)).toEqual({ 2: '1', 3: '1' });
    const ledger = () =>
      sql<{ item_id: string; retried_from: string }>(
        x.db,
        'select item_id, retried_from from durable_runbooks.import_reenqueue order by item_id',
      );
    expect(await ledger()).toEqual([
      { item_id: '2', retried_from: 'failed' },
      { item_id: '3', retried_from: 'failed' },
    ]);

    // Item 2 fails again: a second run does not retry it again, and says so.
    await sql(x.db, `update import_items set status = 'failed' where id = 2`);
    const again = await finished(
      rig.client,
      (
        await rig.client.start('stuck-imports', {
          target: 'failed',
          initiator: 'alice',
          input: { retry, retryFailed: true },
        })
      ).id,
    );
    expect(again.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'healthy', db: { failed: { count: 1, alreadyRetried: 1 } } },
    });
    expect((again.result as { summary: string[] }).summary).toContain(
      '1 failed item(s) were already retried once by an earlier run and are not retried again (ids 2): look at them by hand.',
    );
    expect(again.journal!.some((e) => e.step === 'reenqueue')).toBe(false);
    expect(await ledger()).toHaveLength(2);
    expect(await processed(x)).toEqual({ 2: '1', 3: '1' });
  });

  it('a Redis DB the app never used: refuses to re-enqueue there, saying why (dry run)', async () => {
    await sql(s.lost!.db, `update import_items set status = 'queued' where id = 7`);
    const run = await finished(
      rig.client,
      (
        await rig.client.start('stuck-imports', {
          target: 'wrongdb',
          initiator: 'alice',
          dryRun: true,
          input: { retry },
        })
      ).id,
    );
    const summary = (run.result as { summary: string[] }).summary;
    expect(summary[0]).toBe('Dry run: nothing was changed.');
    expect(summary.at(-1)).toBe(
      `Queue imports was never declared in ${s.wrongdb!.redis.url} (no _kombu.binding.imports): this is probably not the app's broker (wrong DB number or prefix). Messages published there would never be read; fix redis.url in the targets file.`,
    );
    expect(summary.find((l) => l.startsWith('Would:'))).not.toContain('re-enqueue');
    // For real: it ends at once, still stuck, and publishes nothing into the wrong DB.
    const real = await finished(
      rig.client,
      (
        await rig.client.start('stuck-imports', {
          target: 'wrongdb',
          initiator: 'alice',
          input: { retry, verifyDeadline: '10m' },
        })
      ).id,
    );
    expect(real.result).toMatchObject({ healthy: false, findings: { outcome: 'still-stuck' } });
    expect(real.journal!.some((e) => e.step === 'reenqueue' || e.step === 'verify')).toBe(false);
    expect(await s.wrongdb!.redis.redis.dbsize()).toBe(0);
  });

  it('Redis unreachable, or the import tables missing: the run fails naming what to fix, nothing touched', async () => {
    const unreachable = await finished(
      rig.client,
      (await rig.client.start('stuck-imports', { target: 'unreachable', initiator: 'alice', input: { retry } })).id,
    );
    expect(unreachable.status).toBe('failed');
    expect(unreachable.error).toContain('Cannot reach Redis at redis://127.0.0.1:1/0 (target "unreachable")');
    expect(unreachable.error).toContain('Check that Redis runs and redis.url in');
    const notables = await finished(
      rig.client,
      (await rig.client.start('stuck-imports', { target: 'notables', initiator: 'alice', input: { retry } })).id,
    );
    expect(notables.status).toBe('failed');
    expect(notables.error).toContain(
      `Table import_batches does not exist in the database of target "notables". Check imports.batches/imports.items in`,
    );
  });

  it("the worker's host not served by a worker of ours: says so instead of hanging", async () => {
    const run = await finished(
      rig.client,
      (
        await rig.client.start('stuck-imports', {
          target: 'elsewhere',
          initiator: 'alice',
          input: { retry: { ...retry, scheduleToStartTimeout: '2 seconds' } },
        })
      ).id,
    );
    expect(run.status).toBe('failed');
    expect(run.error).toBe(
      'Step "worker-evidence" failed: No worker picked up importsWorkerEvidence in time: no worker of ours polls the task queue this step runs on (the target\'s taskQueue, for steps on the target\'s host). Start a worker there with RUNBOOK_TASK_QUEUE set to that queue, then run again.',
    );
  });
});
