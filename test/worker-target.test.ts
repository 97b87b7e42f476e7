import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, pgTarget, startRig, uniqueName, writeTargets, type TestRig } from './support/harness.js';

// Runs started around our client (Temporal UI, temporal CLI) are checked by the worker itself.
describe('worker-side target resolution', () => {
  let rig: TestRig;
  beforeAll(async () => {
    rig = await startRig(
      writeTargets({
        'ok-db': pgTarget('test'),
        'pw-db': {
          postgres: { host: '127.0.0.1', database: 'test', user: 'postgres', passwordEnv: 'RB_TEST_NEVER_SET' },
        },
      }),
    );
  });
  afterAll(() => rig?.stop());

  const startRaw = async (target: string) => {
    const id = uniqueName('raw');
    await rig.client.temporal.workflow.start('dbAccess', {
      taskQueue: rig.taskQueue,
      workflowId: id,
      args: [{ target }],
    });
    return finished(rig.client, id);
  };

  it('fails a run for an unknown target at once, naming the known ones', async () => {
    const run = await startRaw('ghost-db');
    expect(run.status).toBe('failed');
    // The worker admits every run before its first step: an unknown target stops it there.
    expect(run.error).toMatch(
      /^Step "admit" failed: Target "ghost-db" is not in .*targets\.yaml \(known: ok-db, pw-db\)\.$/,
    );
    expect(run.runbook).toBe('db-access'); // the workflow set its own search attributes
  });

  it('fails a run whose target password variable is unset on the worker, naming the variable only', async () => {
    const run = await startRaw('pw-db');
    expect(run.error).toContain(
      "takes its password from RB_TEST_NEVER_SET, which is not set in the worker's environment",
    );
  });
});
