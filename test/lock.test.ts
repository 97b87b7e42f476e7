import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetBusyError } from '../src/client.js';
import { finished, startRig, uniqueName, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

// One change at a time per target, however the run was started. approval-drill with takeLock
// holds the lock exactly as changing runbooks do.
describe('target lock', () => {
  let rig: TestRig;
  beforeAll(async () => {
    rig = await startRig(
      writeTargets({
        'lock-a': { policy: { unsignedDecisions: 'allow' } },
        'lock-b': { policy: { unsignedDecisions: 'allow' } },
      }),
    );
  });
  afterAll(() => rig?.stop());

  const holdLock = async (target: string) => {
    const { id } = await rig.client.start('approval-drill', { target, initiator: 'alice', input: { takeLock: true } });
    await until(async () => (await rig.client.status(id)).pendingGates.length > 0, 'the holder to reach its gate');
    return id;
  };

  it('refuses a second start at once, naming the run that holds the lock, and fails one started around the client', async () => {
    const holder = await holdLock('lock-a');
    const err = await rig.client.start('approval-drill', { target: 'lock-a', input: { takeLock: true } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TargetBusyError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^Target "lock-a" is being changed by run ${holder} \\(approval-drill, since .*\\): one change at a time\\. Wait for it to end, or abort it: runbook abort ${holder}`,
      ),
    );

    // Started straight from a Temporal client with its own workflow id: the run itself refuses.
    const rawId = uniqueName('raw-lock');
    await rig.client.temporal.workflow.start('approvalDrill', {
      taskQueue: rig.taskQueue,
      workflowId: rawId,
      args: [{ target: 'lock-a', initiator: 'mallory', takeLock: true }],
    });
    const raw = await finished(rig.client, rawId);
    expect(raw.status).toBe('failed');
    expect(raw.error).toContain(`Step "lock-target" failed: Target "lock-a" is being changed by run ${holder}`);

    await rig.client.abort(holder, 'bob', 'drill over');
    const aborted = await finished(rig.client, holder);
    expect(aborted.status).toBe('aborted');
    expect(aborted.journal!.map((e) => e.step)).toContain('release-lock');

    // Abort released it: the next run takes the lock.
    const next = await holdLock('lock-a');
    await rig.client.decide(next, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
    expect((await finished(rig.client, next)).status).toBe('completed');
  });

  it('takes the lock back from a holder that was terminated without releasing it', async () => {
    const holder = await holdLock('lock-b');
    await rig.client.temporal.workflow.getHandle(holder).terminate('simulated crash');
    const next = await holdLock('lock-b');
    expect((await rig.client.status(next)).journal!.find((e) => e.step === 'lock-target')).toMatchObject({
      outcome: 'ok',
      evidence: { holder: next },
    });
    await rig.client.decide(next, 'proceed', { decision: 'reject' }, { person: 'bob', roles: ['approver'] });
  });
});
