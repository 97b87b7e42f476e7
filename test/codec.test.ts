import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replay } from '../src/audit/replay.js';
import { dataConverterFromEnv } from '../src/codec.js';
import { checkWorkflowBundle, workflowsPath } from '../src/worker.js';
import { finished, gateOpened, historyText, startRig, writeTargets, type TestRig } from './support/harness.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';
import { until } from './support/wait.js';
import { serverOptions } from './support/temporal.js';

// Payload encryption end to end: a worker and a client sharing RUNBOOK_PAYLOAD_KEY run a gated
// runbook through an approval; the server's history holds ciphertext only, and a client without
// the key cannot read the run's result.
describe('payload encryption (AES-GCM codec)', () => {
  let rig: TestRig;
  const key = `test-${randomBytes(32).toString('hex')}`.slice(5);
  const MARKER = `marker-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    registerSecrets('payload key', key);
    // A webhook nobody answers: each notification fails, in an activity, and is journaled.
    const deadHook = { webhook: `http://127.0.0.1:${await freePort()}/hook` };
    // Bundled from source with the key's data converter, as `npm run worker` does: the failure
    // converter goes into the workflow code too.
    rig = await startRig(
      writeTargets({
        'enc-drill': { policy: { unsignedDecisions: 'allow' } },
        'enc-failing': { policy: { unsignedDecisions: 'allow' }, notify: [deadHook] },
      }),
      {
        dataConverter: dataConverterFromEnv({ RUNBOOK_PAYLOAD_KEY: `k1:${key}` }),
        workflowsPath,
      },
    );
  });
  afterAll(() => rig?.stop());

  it('runs and approves through the codec; the history holds ciphertext; a client without the key cannot read it', async () => {
    const { id } = await rig.client.start('approval-drill', {
      target: 'enc-drill',
      initiator: 'alice',
      input: { prompt: `Drill ${MARKER} on enc-drill` },
    });
    await until(async () => (await rig.client.status(id)).pendingGates.length > 0, 'the gate to open');
    expect((await rig.client.status(id)).pendingGates[0]!.prompt).toContain(MARKER); // the query's answer is decoded with the key
    await rig.client.decide(
      id,
      'proceed',
      { decision: 'approve', comment: `ok ${MARKER}` },
      { person: 'bob', roles: ['approver'] },
    );
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(JSON.stringify(run.journal)).toContain(`ok ${MARKER}`); // readable with the key

    const raw = historyToJSON(await rig.client.temporal.workflow.getHandle(id).fetchHistory());
    expect(raw).toContain(Buffer.from('binary/encrypted').toString('base64'));
    expect(raw).toContain(Buffer.from('k1').toString('base64'));
    const text = await historyText(rig.client, id);
    expect(text).not.toContain(MARKER); // neither the run's input nor the approval's comment, in any payload
    expect(text).not.toContain('approve');
    // Search attributes stay readable (the server indexes them): names only, never secrets.
    expect(text).toMatch(/"RunbookInitiator":\{"metadata":\{[^}]*\},"data":"\\"alice\\""/);

    const connection = await Connection.connect(serverOptions());
    try {
      const plain = new Client({ connection });
      await expect(plain.workflow.getHandle(id).result()).rejects.toThrow(/binary\/encrypted/);
    } finally {
      await connection.close();
    }

    // The audit replay reads it with the key; without it, or with another, it says which key it needs.
    const history = await rig.client.temporal.workflow.getHandle(id).fetchHistory();
    const code = { workflowBundle: { codePath: inject('workflowBundlePath') } };
    expect(await replay(history, id, code, { RUNBOOK_PAYLOAD_KEY: `k1:${key}` })).toMatchObject({
      ok: true,
      workflowType: 'approvalDrill',
    });
    expect(await replay(history, id, code, {})).toMatchObject({
      ok: false,
      problem:
        'its payloads are encrypted (key k1): set RUNBOOK_PAYLOAD_KEY (and RUNBOOK_PAYLOAD_OLD_KEYS for keys since rotated) as the worker has them, then replay again.',
    });
    expect(await replay(history, id, code, { RUNBOOK_PAYLOAD_KEY: `k2:${'ab'.repeat(32)}` })).toMatchObject({
      ok: false,
      problem:
        'its payloads are encrypted with key k1, which RUNBOOK_PAYLOAD_KEY and RUNBOOK_PAYLOAD_OLD_KEYS here do not hold: add it to RUNBOOK_PAYLOAD_OLD_KEYS, then replay again.',
    });
    // After a rotation the old key, kept among the old keys, still replays it.
    expect(
      await replay(history, id, code, {
        RUNBOOK_PAYLOAD_KEY: `k2:${'ab'.repeat(32)}`,
        RUNBOOK_PAYLOAD_OLD_KEYS: `k1:${key}`,
      }),
    ).toMatchObject({ ok: true });
  });

  it("keeps a failed run's failure messages and stack traces out of the history's plaintext, and still shows them with the key", async () => {
    const { id } = await rig.client.start('approval-drill', {
      target: 'enc-failing',
      initiator: 'alice',
      input: { retry: { maximumAttempts: 1 } },
    });
    await gateOpened(rig.client, id, 'proceed');
    await rig.client.abort(id, 'bob', `stop ${MARKER}`);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('aborted');
    // With the key: the workflow's failure and the failed notifications (activity failures) read as written.
    expect(run.error).toContain(`Aborted by bob: stop ${MARKER}`);
    expect(JSON.stringify(run.journal)).toContain('Notification webhook at 127.0.0.1');

    const raw = historyToJSON(await rig.client.temporal.workflow.getHandle(id).fetchHistory());
    expect(raw).toContain('EVENT_TYPE_ACTIVITY_TASK_FAILED'); // a notification did fail
    expect(raw).toContain('Encoded failure');
    const text = await historyText(rig.client, id);
    for (const plain of [MARKER, 'Aborted by', 'Notification webhook', 'activities/notify', 'runbook.ts'])
      expect(text).not.toContain(plain);

    const code = { workflowBundle: { codePath: inject('workflowBundlePath') } };
    expect(
      await replay(await rig.client.temporal.workflow.getHandle(id).fetchHistory(), id, code, {
        RUNBOOK_PAYLOAD_KEY: `k1:${key}`,
      }),
    ).toMatchObject({ ok: true, workflowType: 'approvalDrill' });
    // A bundle made ahead without the failure converter (as this test run's shared one) is refused by an encrypted worker.
    expect(() =>
      checkWorkflowBundle(code.workflowBundle.codePath, dataConverterFromEnv({ RUNBOOK_PAYLOAD_KEY: `k1:${key}` })),
    ).toThrow('was bundled without failure-converter.cjs');
    expect(() => checkWorkflowBundle(code.workflowBundle.codePath, undefined)).not.toThrow();
  });
});
