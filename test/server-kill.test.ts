import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RunbookClient } from '../src/client.js';
import type { DevServer } from '../src/temporal/devserver.js';
import { privateDevServer } from './support/temporal.js';
import { TargetRegistry } from '../src/targets.js';
import { createWorker } from '../src/worker.js';
import { tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { freePort } from './support/ports.js';
import { serveStatic } from './support/static.js';
import { until } from './support/wait.js';

// Its own dev server with a state file: SIGKILLed (no graceful stop) while one run waits at its
// gate and another's activity is running, then started again on the same port and file. The
// worker stays up throughout and reconnects; both runs continue and complete.
describe('the Temporal server killed mid-run', () => {
  let server: DevServer | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await server?.stop();
  });

  it('a run waiting at a gate and a run inside an activity both complete after the server is killed and restarted', async () => {
    const dir = tmpDir('server-kill-');
    const dbFile = path.join(dir, 'temporal.db');
    const port = await freePort();
    const cli = inject('temporalCli');
    const taskQueue = uniqueName('tq');

    // A PWA serving 1.0.0 whose redeploy takes a few seconds (the server dies during it) and counts its runs.
    const dist = path.join(dir, 'dist');
    mkdirSync(dist);
    writeFileSync(path.join(dist, 'version.json'), JSON.stringify({ version: '1.0.0' }));
    writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>pos</title>');
    const web = await serveStatic(dist, '/', () => 'no-cache');
    closers.push(() => web.close());
    const runs = path.join(dir, 'redeploys');
    const file = writeTargets(
      {
        'kill-drill': { policy: { unsignedDecisions: 'allow' } },
        'kill-pwa': {
          pwa: {
            url: web.url,
            basePath: '/',
            expectedVersion: '1.1.0',
            redeploy: {
              command: `echo run >> '${runs}'; sleep 4; echo '{"version":"1.1.0"}' > '${path.join(dist, 'version.json')}'`,
              timeout: '60s',
            },
          },
          policy: { unsignedDecisions: 'allow' },
        },
      },
      dir,
    );
    const targets = TargetRegistry.load(file);

    server = await privateDevServer({ cli, port, dbFile, headless: true });
    const native = await NativeConnection.connect({ address: server.address });
    closers.push(() => native.close());
    const worker = await createWorker({
      connection: native,
      address: server.address,
      namespace: 'default',
      taskQueue,
      targets,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = worker.run();
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    const connection = await Connection.connect({ address: server.address });
    closers.push(() => connection.close());
    const client = new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => targets,
    });
    const bob = { person: 'bob', roles: ['approver'] };

    const drill = (await client.start('approval-drill', { target: 'kill-drill', initiator: 'alice' })).id;
    const pwa = (
      await client.start('pwa-stale-cache', {
        target: 'kill-pwa',
        initiator: 'alice',
        input: { verifyDeadline: '60s', retry: { activityTimeout: '20 seconds' } },
      })
    ).id;
    await until(
      async () =>
        (await client.status(drill)).pendingGates.length > 0 && (await client.status(pwa)).pendingGates.length > 0,
      'both gates to open',
    );
    await client.decide(pwa, 'redeploy', { decision: 'approve' }, bob);
    await until(async () => {
      try {
        return readFileSync(runs, 'utf8').length > 0;
      } catch {
        return false;
      }
    }, 'the redeploy command to start');

    // Killed, not stopped: whatever it had not written to its file is lost, as in a crash.
    server.process.kill('SIGKILL');
    await new Promise<void>((resolve) =>
      server!.process.exitCode !== null || server!.process.signalCode !== null
        ? resolve()
        : server!.process.once('exit', () => resolve()),
    );
    server = await privateDevServer({ cli, port, dbFile, headless: true });

    await until(
      async () => (await client.status(drill).catch(() => undefined))?.pendingGates.length === 1,
      'the drill to be visible again, still at its gate',
      120_000,
    );
    await client.decide(drill, 'proceed', { decision: 'approve' }, bob);
    await until(
      async () => {
        const [a, b] = await Promise.all([client.status(drill), client.status(pwa)]);
        return a.status !== 'running' && a.status !== 'waiting' && b.status !== 'running' && b.status !== 'waiting';
      },
      'both runs to end',
      180_000,
      500,
    );
    const [d, p] = await Promise.all([client.status(drill), client.status(pwa)]);
    expect(d.status).toBe('completed');
    expect(p.status, p.error).toBe('completed');
    expect(p.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'fixed', after: { version: { value: '1.1.0' } } },
    });
    // The redeploy ran once, or again after its completion was lost with the server: never zero.
    const count = readFileSync(runs, 'utf8').trim().split('\n').length;
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThanOrEqual(3);
  });
});
