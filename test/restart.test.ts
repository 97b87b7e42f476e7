import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { RunbookClient } from '../src/client.js';
import type { DevServer } from '../src/temporal/devserver.js';
import { privateDevServer } from './support/temporal.js';
import { TargetRegistry } from '../src/targets.js';
import { createWorker } from '../src/worker.js';
import type { DbAccessFindings } from '../src/runbooks/db-access/workflow.js';
import type { RunbookResult } from '../src/contract/types.js';
import { pgTarget, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';

// Its own dev server with a state file, so stopping it disturbs no other test.
describe('restart with a run in flight', () => {
  let server: DevServer | undefined;
  afterAll(() => server?.stop());

  it('resumes a db-access run after the worker and the dev server were stopped mid-run', async () => {
    const dir = tmpDir();
    const dbFile = path.join(dir, 'temporal.db');
    const port = await freePort();
    const cli = inject('temporalCli');
    const mainQueue = uniqueName('tq');
    const hostQueue = uniqueName('host');
    // Host-local steps (alembic heads) go to the target's own queue: no worker polls it yet, so the
    // run is held there, half-way, while everything is stopped.
    const file = writeTargets({ 'app-db': pgTarget('test', { taskQueue: hostQueue }) }, dir);
    const targets = TargetRegistry.load(file);
    const bundle = { codePath: inject('workflowBundlePath') };

    server = await privateDevServer({ cli, port, dbFile, headless: true });
    let native = await NativeConnection.connect({ address: server.address });
    let worker = await createWorker({
      connection: native,
      address: server.address,
      namespace: 'default',
      taskQueue: mainQueue,
      targets,
      workflowBundle: bundle,
    });
    let running = worker.run();
    let connection = await Connection.connect({ address: server.address });
    let client = new RunbookClient(new Client({ connection }), {
      taskQueue: mainQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => targets,
    });

    const { id } = await client.start('db-access', { target: 'app-db', initiator: 'alice' });
    const waitingOnHost = async () => {
      const history = await client.temporal.workflow.getHandle(id).fetchHistory();
      return (history.events ?? []).some(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'alembicHeads',
      );
    };
    await until(waitingOnHost, 'the run to reach the host-local step');
    expect((await client.status(id)).status).toBe('running');

    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await server.stop();

    server = await privateDevServer({ cli, port, dbFile, headless: true });
    native = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({
      connection: native,
      address: server.address,
      namespace: 'default',
      taskQueue: mainQueue,
      targets,
      workflowBundle: bundle,
    });
    const hostWorker = await createWorker({
      connection: native,
      address: server.address,
      namespace: 'default',
      taskQueue: hostQueue,
      targets,
      workflowBundle: bundle,
    });
    running = Promise.all([worker.run(), hostWorker.run()]).then(() => undefined);
    connection = await Connection.connect({ address: server.address });
    client = new RunbookClient(new Client({ connection }), {
      taskQueue: mainQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => targets,
    });

    const result = (await client.temporal.workflow.getHandle(id).result()) as RunbookResult<DbAccessFindings>;
    expect(result.findings.heads).toEqual(['0005_invoice_estado_check']);
    expect((await client.status(id)).status).toBe('completed');
    // Each step ran once: the restart replayed history instead of starting over.
    const history = await client.temporal.workflow.getHandle(id).fetchHistory();
    const scheduled = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    expect(scheduled).toEqual([
      'admitRun',
      'describeTarget',
      'pgPing',
      'pgConnections',
      'pgAppliedRevision',
      'alembicHeads',
      'pgLongTransactions',
      'pgBlockingLocks',
      'notify',
    ]);

    worker.shutdown();
    hostWorker.shutdown();
    await running;
    await native.close();
    await connection.close();
  });
});
