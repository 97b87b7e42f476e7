import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunbookClient } from '../src/client.js';
import { TargetRegistry } from '../src/targets.js';
import { finished, pgTarget, repoRoot, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { until } from './support/wait.js';
import { workerProcesses } from './support/worker-process.js';
import { serverOptions } from './support/temporal.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';

const { PendingActivityState, TimeoutType } = proto.temporal.api.enums.v1;

// Two real worker processes on one queue; one is killed with SIGKILL while it holds steps. The
// steps it held are retried on the other once their heartbeats stop (not after their start-to-close
// timeout), every run completes there, and a restart's commands, recorded in the step ledger,
// ran once. How soon is bench/recovery.ts's question; this test asserts no timing.
describe('a worker killed while it holds steps', () => {
  const dir = tmpDir('worker-loss-');
  const dataDir = tmpDir('worker-loss-data-'); // both workers' step ledgers: two workers of one host
  const healthy = path.join(dir, 'healthy');
  const services = ['svc0', 'svc1', 'svc2', 'svc3', 'svc4', 'svc5'];
  const commandLog = (svc: string) => path.join(dir, `${svc}.log`);
  let connection: Connection;
  let client: RunbookClient;
  let procs: ReturnType<typeof workerProcesses>;
  let bundlePath: string;
  let targetsFile: string;

  beforeAll(async () => {
    // Each service's restart writes its commands to its own log; it is healthy once the test says so.
    targetsFile = writeTargets(
      {
        loss: pgTarget('test', {
          services: Object.fromEntries(
            services.map((svc) => [
              svc,
              {
                // Running until its restart begins (no command logged yet), then healthy once the test says so.
                command: {
                  stop: `echo stop >> ${commandLog(svc)}`,
                  start: `echo start >> ${commandLog(svc)}`,
                  status: `test ! -f ${commandLog(svc)} || test -f ${healthy}`,
                },
                health: { timeout: '10m' },
              },
            ]),
          ),
        }),
      },
      dir,
    );
    bundlePath = path.join(dir, 'bundle.js');
    const workflowsPath = path.join(repoRoot, 'test/fixtures/worker-loss-workflows/index.ts');
    writeFileSync(
      bundlePath,
      (await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: new DefaultLogger('ERROR') }))
        .code,
    );
    procs = workerProcesses(targetsFile, dataDir);
    connection = await Connection.connect(serverOptions());
  });
  afterAll(async () => {
    await procs?.killAll();
    await connection?.close();
  });

  const restartLog = (svc: string) =>
    existsSync(commandLog(svc)) ? readFileSync(commandLog(svc), 'utf8').split('\n').filter(Boolean) : [];
  const heldBy = async (id: string) =>
    (await client.temporal.workflow.getHandle(id).describe()).raw.pendingActivities?.[0];

  it('retries them on the other worker once their heartbeats stop; every run completes; no restart command runs twice', async () => {
    const taskQueue = uniqueName('loss');
    client = new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => TargetRegistry.load(targetsFile),
    });
    const start = (env: Record<string, string> = {}) =>
      procs.start(taskQueue, undefined, { RUNBOOK_WORKFLOW_BUNDLE: bundlePath, ...env });
    const identity = (pid: number | undefined) => `${pid}@${os.hostname()}`;
    const retry = { initialInterval: '200 ms' };
    const restart = async (svc: string) => {
      const id = uniqueName(`loss-${svc}`);
      await client.temporal.workflow.start('restartProbe', {
        taskQueue,
        workflowId: id,
        args: [{ target: 'loss', initiator: 'alice', service: svc, retry }],
      });
      return id;
    };

    // The doomed worker alone takes the first three restarts; both workers are up for the other three.
    const doomed = await start();
    const doomedId = identity(doomed.proc.pid);
    const first = await Promise.all(services.slice(0, 3).map(restart));
    await until(
      () => services.slice(0, 3).every((s) => restartLog(s).length === 2),
      'the first restarts to run their commands',
      90_000,
    );
    const survivor = await start();
    const survivorId = identity(survivor.proc.pid);
    const rest = await Promise.all(services.slice(3).map(restart));
    await until(() => services.every((s) => restartLog(s).length === 2), 'every restart to run its commands', 90_000);
    const dbRuns = await Promise.all(
      [1, 2, 3, 4].map(() =>
        client.start('db-access', { target: 'loss', initiator: 'alice', input: { retry } }).then((r) => r.id),
      ),
    );

    const held = [];
    for (const id of [...first, ...rest]) if ((await heldBy(id))?.lastWorkerIdentity === doomedId) held.push(id);
    expect(held.length).toBeGreaterThanOrEqual(3);
    doomed.proc.kill('SIGKILL');
    expect((await doomed.proc).signal).toBe('SIGKILL');

    // Each step the dead worker held starts again on the survivor, its first attempt ended by the heartbeat timeout.
    for (const id of held) {
      await until(
        async () => {
          const p = await heldBy(id);
          return (p?.attempt ?? 0) >= 2 && p?.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
        },
        `the step of ${id} to start again`,
        180_000,
      );
      const pending = (await heldBy(id))!;
      expect(pending.attempt).toBe(2);
      expect(pending.lastWorkerIdentity).toBe(survivorId);
      expect(pending.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
    }
    writeFileSync(healthy, '');

    for (const id of [...first, ...rest, ...dbRuns]) expect((await finished(client, id)).status, id).toBe('completed');
    for (const svc of services) expect(restartLog(svc), svc).toEqual(['stop', 'start']);
    for (const id of held) {
      const restartStep = (await client.status(id)).journal!.find((e) => e.kind === 'step' && e.step === 'restart')!;
      expect(restartStep.evidence).toMatchObject({
        notRepeated: ['sh -c <command.stop from the targets file>', 'sh -c <command.start from the targets file>'],
        commands: [],
      });
      const { events } = await client.temporal.workflow.getHandle(id).fetchHistory();
      const scheduled = events!.find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'serviceAction',
      )!;
      const started = events!.find(
        (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId!.toString(),
      )!;
      expect(started.activityTaskStartedEventAttributes).toMatchObject({ identity: survivorId, attempt: 2 });
    }
  }, 300_000);
});
