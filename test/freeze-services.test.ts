import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceActivities } from '../src/activities/services.js';
import { TargetRegistry } from '../src/targets.js';
import { finished, gateOpened, sql, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { appDatabase, asApp, dbTarget, dropAllFor, revisionOf } from './support/databases.js';
import { celeryWorkerService, claimRedisDb, killWorker, publishItems, workerFiles } from './support/imports.js';
import { until } from './support/wait.js';

// freezeWrites: services — a release stops the app's writer (the real Celery imports worker)
// through the service adapter before the read-only freeze, and starts it again, proved healthy,
// when the database is writable again. Messages published meanwhile wait in Redis, not lost.
describe('release-migration with freezeWrites: services', () => {
  let rig: TestRig;
  let db: string;
  let redis: Awaited<ReturnType<typeof claimRedisDb>>;
  const files = workerFiles(tmpDir('freeze-svc-'));
  const bob = { person: 'bob', roles: ['approver'] };
  let targetsFile: string;
  const itemStatus = async (id: number) =>
    (await sql<{ status: string }>(db, 'select status from import_items where id = $1', [id]))[0]!.status;
  const workerUp = async () =>
    (await createServiceActivities(TargetRegistry.load(targetsFile)).serviceStatus('frz-app', 'imports-worker'))
      .running;

  beforeAll(async () => {
    db = await appDatabase('0004_imports_payments', 'frz_svc');
    redis = await claimRedisDb();
    targetsFile = writeTargets({
      'frz-app': dbTarget(db, {
        freezeWrites: 'services',
        services: { 'imports-worker': celeryWorkerService(files, db, redis.url) },
      }),
    });
    await createServiceActivities(TargetRegistry.load(targetsFile)).serviceAction('frz-app', 'imports-worker', 'start');
    rig = await startRig(targetsFile);
  });
  afterAll(async () => {
    await killWorker(files); // first: a hung rig.stop() must not leave the worker consuming
    await rig?.stop();
    await redis?.release();
    if (db) await dropAllFor(db);
  });

  it('stops the worker (proved down) before freezing, keeps published work queued, and starts it again (proved healthy) after', async () => {
    await sql(db, `update import_items set status = 'queued' where id = 1`);
    const { id } = await rig.client.start('release-migration', {
      target: 'frz-app',
      initiator: 'alice',
      input: { retry: { initialInterval: '200 ms', maximumAttempts: 2 } },
    });
    await gateOpened(rig.client, id, 'freeze-writes');
    const freezeGate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'freeze-writes')!;
    expect(freezeGate.prompt).toContain(
      'First the writer services imports-worker are stopped (each finishes what it holds) and proved down',
    );
    expect(freezeGate.evidence).toMatchObject({ method: 'services', writerServices: ['imports-worker'] });
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpened(rig.client, id, 'upgrade');

    // Frozen both ways: the worker is down and the database refuses the app's writes.
    expect(await workerUp()).toBe(false);
    expect(await asApp(db, `update import_items set status = 'done' where id = 2`)).toMatchObject({
      ok: false,
      code: '25006',
    });
    await publishItems(redis.url, [1]);
    expect(await redis.redis.llen('imports')).toBe(1); // waiting in the broker, not lost
    expect(await itemStatus(1)).toBe('queued');

    await rig.client.decide(id, 'upgrade', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    const findings = (
      run.result as { findings: { freeze: { stoppedServices: Array<{ service: string; checks: unknown[] }> } } }
    ).findings;
    expect(findings.freeze.stoppedServices).toMatchObject([
      { service: 'imports-worker', action: 'stop', checks: [{ check: 'stopped', ok: true }] },
    ]);
    const steps = run.journal!.filter((e) => e.kind === 'step').map((e) => e.step);
    expect(steps.indexOf('stop-writers')).toBeLessThan(steps.indexOf('freeze'));
    expect(steps.indexOf('start-writers')).toBeGreaterThan(steps.indexOf('unfreeze'));
    const started = run.journal!.find((e) => e.step === 'start-writers')!.evidence as Array<{
      verified: boolean;
      checks: Array<{ check: string; detail: string }>;
    }>;
    expect(started[0]).toMatchObject({
      verified: true,
      checks: [
        { check: 'running' },
        { check: 'logLine', detail: expect.stringContaining('imports worker ready') as unknown },
      ],
    });

    expect(await revisionOf(db)).toEqual(['0005_invoice_estado_check']);
    expect(await workerUp()).toBe(true);
    await until(
      async () => (await itemStatus(1)) === 'done',
      'the item queued during the freeze is processed once the worker is back',
    );
    expect(await redis.redis.hget('fixture:processed', '1')).toBe('1');
    expect(readFileSync(files.logFile, 'utf8').match(/imports worker ready/g)).toHaveLength(2);
  });
});
