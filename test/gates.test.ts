import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { DecisionError, RunbookClient } from '../src/client.js';
import { signDecision } from '../src/contract/signing.js';
import { TargetRegistry } from '../src/targets.js';
import { apiWithDevTokens } from './support/api.js';
import { startRig, writeTargets, type TestRig } from './support/harness.js';
import { startReceiver, verifyNotification } from './support/receiver.js';
import { registerSecrets } from './support/secrets.js';
import { until } from './support/wait.js';

const approver = (person: string) => ({ person, roles: ['approver'] });

describe('approval gates (approval-drill)', () => {
  let rig: TestRig;
  let hooks: Awaited<ReturnType<typeof startReceiver>>;
  let targetsFile: string;
  const signingKey = randomBytes(32).toString('hex');
  const notifySecret = `whsec-${randomBytes(16).toString('hex')}`;

  beforeAll(async () => {
    hooks = await startReceiver();
    registerSecrets('notification signing secret', notifySecret);
    const allow = { unsignedDecisions: 'allow' };
    const file = (targetsFile = writeTargets({
      'drill-open': { policy: allow },
      'drill-two': { policy: { ...allow, approvalsNeeded: 2 } },
      'drill-deny': {},
      'drill-strict': { policy: { unsignedStarts: 'deny' } },
      'drill-digest': { policy: { ...allow, requirePlanDigest: true } },
      'drill-escalate': {
        policy: {
          ...allow,
          approvers: ['bob'],
          secondaryApprovers: ['erin'],
          remindAfter: '1s',
          widenAfter: '2s',
          deadline: '4s',
        },
        notify: [
          { webhook: `${hooks.url}/json`, format: 'json' },
          { webhook: `${hooks.url}/slack`, format: 'slack' },
        ],
      },
      'drill-signed': { policy: allow, notify: [{ webhook: `${hooks.url}/signed`, secretEnv: 'DRILL_NOTIFY_SECRET' }] },
      'drill-signed-unset': {
        policy: allow,
        notify: [{ webhook: `${hooks.url}/unset`, secretEnv: 'DRILL_NOTIFY_UNSET' }],
      },
    }));
    rig = await startRig(file, {
      signingKey,
      links: { api: 'http://api.test', temporalUi: 'http://ui.test', namespace: 'default' },
      env: { ...process.env, DRILL_NOTIFY_SECRET: notifySecret },
    });
  });
  afterAll(async () => {
    await rig?.stop();
    await hooks?.close();
  });

  const drill = async (target: string, client: RunbookClient = rig.client) => {
    const { id } = await client.start('approval-drill', { target, initiator: 'alice' });
    await until(async () => (await client.status(id)).pendingGates.length > 0, 'the gate to open');
    return id;
  };
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecisionError);
    return err as DecisionError;
  };
  const outcome = async (id: string) => {
    await rig.client.temporal.workflow
      .getHandle(id)
      .result()
      .catch(() => undefined);
    return rig.client.status(id);
  };

  it('waits at the gate with its prompt, plan digest and policy, findable as awaiting approval', async () => {
    const id = await drill('drill-open');
    const run = await rig.client.status(id);
    expect(run.status).toBe('waiting');
    const [gate] = run.pendingGates;
    expect(gate).toMatchObject({
      gate: 'proceed',
      prompt: 'Drill: approve to proceed on drill-open. Nothing will be changed.',
      status: 'open',
    });
    expect(gate!.planDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(gate!.policy).toMatchObject({ approvers: ['role:approver'], approvalsNeeded: 1, fourEyes: true });
    await until(
      async () => (await rig.client.list({ target: 'drill-open', status: 'waiting' })).some((r) => r.id === id),
      'the run to be listed as waiting',
    );
    await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'));
  });

  it('approves through the update and runs the next step, recording who decided', async () => {
    const id = await drill('drill-open');
    const gate = await rig.client.decide(id, 'proceed', { decision: 'approve', comment: 'drill ok' }, approver('bob'));
    expect(gate.status).toBe('approved');
    const run = await outcome(id);
    expect(run.status).toBe('completed');
    expect(run.result).toMatchObject({ findings: { approvedBy: ['bob'], channels: ['update'] } });
    const decision = run.journal!.find((e) => e.kind === 'decision');
    expect(decision).toMatchObject({
      step: 'proceed',
      actor: 'bob',
      outcome: 'approved',
      comment: 'drill ok',
      channel: { via: 'update', signed: false },
    });
    expect(run.journal!.map((e) => e.step)).toEqual([
      'admit',
      'policy:proceed',
      'proceed',
      'proceed',
      'record-decision',
    ]);
  });

  it('refuses an approval from the person who started the run (four-eyes), and journals it', async () => {
    const id = await drill('drill-open');
    const err = await refusal(rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('alice')));
    expect(err.kind).toBe('refused');
    expect(err.message).toBe('alice started this run and may not approve it (four-eyes): another approver must.');
    const run = await rig.client.status(id);
    expect(run.status).toBe('waiting');
    expect(run.journal!.find((e) => e.kind === 'refusal')).toMatchObject({ actor: 'alice', error: err.message });
    await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'));
  });

  it('refuses someone without the approver role', async () => {
    const id = await drill('drill-open');
    const err = await refusal(
      rig.client.decide(id, 'proceed', { decision: 'approve' }, { person: 'carol', roles: ['viewer'] }),
    );
    expect(err.message).toBe('carol may not decide gate "proceed": allowed are role:approver.');
    await rig.client.decide(id, 'proceed', { decision: 'reject' }, approver('bob'));
  });

  it('needs two different approvers when the target asks for two, counting a repeated approval once', async () => {
    const id = await drill('drill-two');
    expect((await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'))).status).toBe('open');
    const again = await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'));
    expect(again.approvals.map((a) => a.by)).toEqual(['bob']);
    expect((await rig.client.status(id)).status).toBe('waiting');
    expect((await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('dave'))).status).toBe('approved');
    expect((await outcome(id)).result).toMatchObject({ findings: { approvedBy: ['bob', 'dave'] } });
  });

  it('ends a rejected run as aborted, saying who rejected it and that nothing was changed', async () => {
    const id = await drill('drill-open');
    await rig.client.decide(id, 'proceed', { decision: 'reject', comment: 'not during the sale' }, approver('bob'));
    const run = await outcome(id);
    expect(run.status).toBe('aborted');
    expect(run.error).toBe(
      'Gate "proceed" was rejected by bob: not during the sale Nothing had been changed; nothing to undo.',
    );
    expect(run.journal!.some((e) => e.step === 'record-decision')).toBe(false);
  });

  it('refuses unsigned decisions where the target denies them, and accepts the API-signed one', async () => {
    const id = await drill('drill-deny');
    const err = await refusal(rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob')));
    expect(err.message).toContain('Unsigned decisions are not accepted for target "drill-deny"');
    expect((await rig.signed.decide(id, 'proceed', { decision: 'approve' }, approver('bob'))).status).toBe('approved');
    expect((await outcome(id)).result).toMatchObject({ findings: { channels: ['update (signed)'] } });
  });

  it('refuses a signature replayed on another run', async () => {
    const first = await drill('drill-deny');
    const second = await drill('drill-deny');
    // Capture what the API sent for the first run, then send the same signed decision to the second.
    const h1 = rig.client.temporal.workflow.getHandle(first);
    await rig.signed.decide(first, 'proceed', { decision: 'approve' }, approver('bob'));
    const history = await h1.fetchHistory();
    const accepted = history.events!.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes)!;
    const payload =
      accepted.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.args!.payloads![0]!;
    const signedInput = JSON.parse(Buffer.from(payload.data!).toString()) as Record<string, unknown>;
    expect(signedInput.signature).toMatch(/^[0-9a-f]{128}$/);
    const handle = rig.client.temporal.workflow.getHandle(second);
    const err = await handle.executeUpdate('decide', { args: [signedInput] }).then(
      () => undefined,
      (e: { cause?: { message: string } }) => e.cause?.message,
    );
    expect(err).toContain('signature does not match this run, gate opening, plan, person and comment');
    await rig.signed.decide(second, 'proceed', { decision: 'reject' }, approver('bob'));
  });

  it('refuses a decision made on a stale plan digest, and one without a digest where the gate requires it', async () => {
    const id = await drill('drill-digest');
    const missing = await refusal(rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob')));
    expect(missing.message).toMatch(
      /^Gate "proceed" requires the plan digest you reviewed: send "planDigest": "[0-9a-f]{16}"/,
    );
    const stale = await refusal(
      rig.client.decide(id, 'proceed', { decision: 'approve', planDigest: '0000000000000000' }, approver('bob')),
    );
    expect(stale.message).toMatch(
      /^The plan changed since you reviewed it \(you saw 0000000000000000, the gate now shows [0-9a-f]{16}\)/,
    );
    const digest = (await rig.client.status(id)).pendingGates[0]!.planDigest;
    expect(
      (await rig.client.decide(id, 'proceed', { decision: 'approve', planDigest: digest }, approver('bob'))).status,
    ).toBe('approved');
  });

  it('refuses a decision for an unknown gate and one sent to a finished run, saying what to do', async () => {
    const id = await drill('drill-open');
    const unknown = await refusal(rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, approver('bob')));
    expect(unknown.kind).toBe('unknown-gate');
    expect(unknown.message).toBe('There is no gate "freeze-writes" in this run (open: proceed).');
    await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'));
    await outcome(id);
    const late = await refusal(rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('dave')));
    expect(late.kind).toBe('run-ended');
    expect(late.message).toBe(`Run "${id}" has already ended (completed); decisions are no longer accepted.`);
  });

  it('accepts a decision sent as a signal with the real temporal CLI', async () => {
    const id = await drill('drill-open');
    const decision = JSON.stringify({
      gate: 'proceed',
      decision: 'approve',
      by: 'bob',
      roles: ['approver'],
      comment: 'from the CLI',
    });
    await execa(inject('temporalCli'), [
      'workflow',
      'signal',
      '--address',
      inject('temporalAddress'),
      '--workflow-id',
      id,
      '--name',
      'decide',
      '--input',
      decision,
    ]);
    const run = await outcome(id);
    expect(run.status).toBe('completed');
    expect(run.result).toMatchObject({ findings: { approvedBy: ['bob'], channels: ['signal'] } });
  });

  it('aborts on request, journaling who and why', async () => {
    const id = await drill('drill-open');
    await rig.client.abort(id, 'bob', 'wrong target');
    const run = await outcome(id);
    expect(run.status).toBe('aborted');
    expect(run.error).toBe('Aborted by bob: wrong target Nothing had been changed; nothing to undo.');
    expect(run.journal!.find((e) => e.kind === 'abort')).toMatchObject({ actor: 'bob', comment: 'wrong target' });
  });

  it('escalates past each deadline, widens to the secondary approvers, then aborts: never approved by timeout', async () => {
    const id = await drill('drill-escalate');
    await until(
      async () => (await rig.client.status(id)).pendingGates[0]?.escalation === 'widened',
      'the gate to widen',
    );
    const refused = await refusal(rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('dave')));
    expect(refused.message).toBe('dave may not decide gate "proceed": allowed are bob, erin.');
    const run = await outcome(id);
    expect(run.status).toBe('aborted');
    expect(run.error).toMatch(
      /^Gate "proceed" expired at .* without enough approvals \(0 of 1\)\. Nothing had been changed; nothing to undo\.$/,
    );
    await until(() => hooks.received.filter((r) => r.path === '/json').length >= 5, 'five notifications');
    const json = hooks.received.filter((r) => r.path === '/json').map((r) => r.body);
    expect(json.map((b) => b.event)).toEqual([
      'gate-opened',
      'gate-reminder',
      'gate-widened',
      'gate-expired',
      'run-ended',
    ]);
    expect(json[0]).toMatchObject({
      runId: id,
      runbook: 'approval-drill',
      target: 'drill-escalate',
      gate: { gate: 'proceed', prompt: 'Drill: approve to proceed on drill-escalate. Nothing will be changed.' },
      // The console link opens the run itself (the console's route is #/run/<id>; #/runs is the list).
      links: {
        api: `http://api.test/runs/${id}`,
        temporalUi: `http://ui.test/namespaces/default/workflows/${id}`,
        console: `http://api.test/console/#/run/${id}`,
      },
    });
    const slack = hooks.received.filter((r) => r.path === '/slack').map((r) => r.body.text as string);
    expect(slack[0]).toContain('*Approval needed* — `approval-drill` on `drill-escalate`');
    expect(slack[0]).toContain(`<http://ui.test/namespaces/default/workflows/${id}|Temporal UI>`);
  });
  describe('one boundary on every channel', () => {
    const runInput = async (id: string) => {
      const history = await rig.client.temporal.workflow.getHandle(id).fetchHistory();
      const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      return JSON.parse(Buffer.from(payload.data!).toString()) as Record<string, unknown>;
    };
    const startRaw = async (args: Record<string, unknown>) => {
      const workflowId = `raw-drill-${randomBytes(4).toString('hex')}`;
      await rig.client.temporal.workflow.start('approvalDrill', { workflowId, taskQueue: rig.taskQueue, args: [args] });
      return workflowId;
    };

    it("refuses a run started without the API's signature where the target denies unsigned starts, before any step", async () => {
      const { id } = await rig.client.start('approval-drill', { target: 'drill-strict', initiator: 'alice' });
      const run = await outcome(id);
      expect(run.status).toBe('failed');
      expect(run.error).toContain(
        'Target "drill-strict" accepts only runs started through the API (policy.unsignedStarts: deny)',
      );
      expect(run.journal!.map((e) => `${e.step}:${e.outcome}`)).toEqual(['admit:failed']);
    });

    it('admits a start the API signed, journaling its channel and person; a copy with another initiator or run id is refused', async () => {
      const id = await drill('drill-strict', rig.signed);
      expect((await rig.client.status(id)).journal![0]).toMatchObject({
        step: 'admit',
        outcome: 'ok',
        channel: { via: 'api', signed: true },
        evidence: { initiator: 'alice' },
      });
      const signedInput = await runInput(id);
      expect(signedInput.start).toMatchObject({
        via: 'api',
        signature: expect.stringMatching(/^[0-9a-f]{128}$/) as string,
      });
      for (const forged of [{ ...signedInput, initiator: 'mallory' }, signedInput]) {
        const run = await outcome(await startRaw(forged));
        expect(run.error).toContain("The start's signature does not match this run, runbook, target, person and input");
      }
      await rig.signed.decide(id, 'proceed', { decision: 'reject' }, approver('bob'));
    });

    it('checks the input on the worker as the API does, however the run was started', async () => {
      const run = await outcome(
        await startRaw({ target: 'drill-open', initiator: 'alice', prompt: 'x'.repeat(600), takeLock: 'yes' }),
      );
      expect(run.status).toBe('failed');
      expect(run.error).toContain('Invalid input for approval-drill: input.prompt: Too big');
      expect(run.error).toContain('The worker checks every input as the API does');
    });

    it('refuses an unsigned abort where the target denies unsigned decisions; the API-signed one aborts', async () => {
      const id = await drill('drill-deny');
      const err = await refusal(rig.client.abort(id, 'bob', 'forged from the temporal CLI'));
      expect(err.message).toContain('Unsigned aborts are not accepted for target "drill-deny"');
      expect((await rig.client.status(id)).status).toBe('waiting');
      await rig.signed.abort(id, 'bob', 'wrong target');
      const run = await outcome(id);
      expect(run.status).toBe('aborted');
      expect(run.journal!.find((e) => e.kind === 'abort')).toMatchObject({
        actor: 'bob',
        comment: 'wrong target',
        channel: { via: 'update', signed: true },
      });
      expect(run.journal!.find((e) => e.kind === 'refusal')).toMatchObject({
        step: 'abort',
        actor: 'bob',
        channel: { signed: false },
      });
    });

    it('refuses a signed decision replayed with another comment or for another opening of the gate', async () => {
      const id = await drill('drill-deny');
      const handle = rig.client.temporal.workflow.getHandle(id);
      const { runId } = await handle.describe();
      const gate = (await rig.client.status(id)).pendingGates[0]!;
      const expiresAt = new Date(Date.now() + 60_000).toISOString();
      const fields = {
        workflowId: id,
        runId,
        gate: 'proceed',
        planDigest: gate.planDigest,
        decision: 'approve' as const,
        by: 'bob',
        roles: ['approver'],
        expiresAt,
        comment: 'commit 1a2b3c4',
        opening: 1,
      };
      const send = (comment: string, signature: string) =>
        handle
          .executeUpdate('decide', {
            args: [
              {
                gate: 'proceed',
                decision: 'approve',
                by: 'bob',
                roles: ['approver'],
                planDigest: gate.planDigest,
                expiresAt,
                comment,
                signature,
              },
            ],
          })
          .then(
            () => 'accepted',
            (e: Error & { cause?: { message: string } }) => e.cause?.message ?? e.message,
          );
      expect(gate.opening).toBe(1);
      expect(await send('commit 9f9f9f9', signDecision(fields, signingKey))).toContain(
        'signature does not match this run, gate opening, plan, person and comment',
      );
      expect(await send('commit 1a2b3c4', signDecision({ ...fields, opening: 2 }, signingKey))).toContain(
        'signature does not match',
      );
      expect(await send('commit 1a2b3c4', signDecision(fields, signingKey))).toBe('accepted');
      expect((await outcome(id)).status).toBe('completed');
    });

    it('an alert starts its run as the person whose token posted it: four-eyes holds, and a service identity never decides', async () => {
      const { api, tokens } = await apiWithDevTokens(rig.signed);
      const call = (url: string, token: string, payload: unknown) =>
        api.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${token}` },
          payload: payload as Record<string, unknown>,
        });
      const posted = await call('/alerts/alertmanager', tokens.alice, {
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'Drill', runbook: 'approval-drill', runbook_target: 'drill-strict' },
          },
        ],
      });
      expect(posted.statusCode).toBe(202);
      let id = '';
      await until(
        async () =>
          (id =
            (await rig.client.list({ runbook: 'approval-drill', target: 'drill-strict', status: 'waiting' }))[0]?.id ??
            '') !== '',
        "the alert's run to wait at its gate",
      );
      const run = await rig.client.status(id);
      expect(run.initiator).toBe('alice');
      // The intake also forwards the alert itself to the run: it may be journaled before or after the admission.
      expect(run.journal!.find((e) => e.step === 'admit')).toMatchObject({
        channel: { via: 'alertmanager', signed: true },
        evidence: { initiator: 'alice' },
      });
      const self = await call(`/runs/${id}/gates/proceed`, tokens.alice, { decision: 'approve' });
      expect(self.statusCode).toBe(403);
      expect(self.json()).toEqual({
        error: 'alice started this run and may not approve it (four-eyes): another approver must.',
      });
      const service = await call(`/runs/${id}/gates/proceed`, tokens.alertmanager, { decision: 'approve' });
      expect(service.statusCode).toBe(403);
      expect(service.json<{ error: string }>().error).toContain(
        'alertmanager is a service identity (for Alertmanager, CI): it may start runs but never decide gates',
      );
      expect((await call(`/runs/${id}/gates/proceed`, tokens.bob, { decision: 'approve' })).statusCode).toBe(200);
      expect((await outcome(id)).result).toMatchObject({ findings: { approvedBy: ['bob'] } });
      await api.close();
    });

    it('refuses an unsigned abort sent as a signal with the real temporal CLI, journaling it; the run keeps waiting', async () => {
      const id = await drill('drill-deny');
      const abort = JSON.stringify({ by: 'mallory', reason: 'forged from the temporal CLI' });
      await execa(inject('temporalCli'), [
        'workflow',
        'signal',
        '--address',
        inject('temporalAddress'),
        '--workflow-id',
        id,
        '--name',
        'abort',
        '--input',
        abort,
      ]);
      const refused = async () =>
        (await rig.client.status(id)).journal!.find((e) => e.kind === 'refusal' && e.step === 'abort');
      await until(async () => (await refused()) !== undefined, 'the refused abort to be journaled');
      expect(await refused()).toMatchObject({ actor: 'mallory', channel: { via: 'signal', signed: false } });
      expect((await refused())!.error).toContain('Unsigned aborts are not accepted for target "drill-deny"');
      expect((await rig.client.status(id)).status).toBe('waiting');
      await rig.signed.decide(id, 'proceed', { decision: 'reject' }, approver('bob'));
    });

    it('an alert intake started and signalled straight through Temporal, with a made-up poster, opens no run the target admits', async () => {
      const intake = rig.client.temporal.workflow.getHandle(
        await rig.client.temporal.workflow
          .signalWithStart('alertIntake', {
            workflowId: `alerts-approval-drill-drill-strict-${randomBytes(3).toString('hex')}`,
            taskQueue: rig.taskQueue,
            args: [{ runbook: 'approval-drill', workflowType: 'approvalDrill', target: 'drill-strict', input: {} }],
            signal: 'alert',
            signalArgs: [{ alertname: 'Forged', status: 'firing', labels: {}, postedBy: 'mallory' }],
          })
          .then((h) => h.workflowId),
      );
      const { runs } = (await intake.result()) as { runs: string[] };
      const run = await outcome(runs[0]!);
      expect(run.status).toBe('failed');
      expect(run.error).toContain('Target "drill-strict" accepts only runs started through the API');
      // No step ran but the refused admission (the forwarded alert is journaled beside it).
      expect(run.journal!.filter((e) => e.kind !== 'alert').map((e) => `${e.step}:${e.outcome}`)).toEqual([
        'admit:failed',
      ]);
    });

    it('the API refuses a decision without the plan digest where the gate requires one, and never fills it in', async () => {
      const { api, tokens } = await apiWithDevTokens(rig.signed);
      const id = await drill('drill-digest', rig.signed);
      const decide = (payload: Record<string, unknown>) =>
        api.inject({
          method: 'POST',
          url: `/runs/${id}/gates/proceed`,
          headers: { authorization: `Bearer ${tokens.bob}` },
          payload,
        });
      const blind = await decide({ decision: 'approve' });
      expect(blind.statusCode).toBe(403);
      expect(blind.json<{ error: string }>().error).toMatch(/^Gate "proceed" requires the plan digest you reviewed/);
      const digest = (await rig.client.status(id)).pendingGates[0]!.planDigest;
      expect((await decide({ decision: 'approve', planDigest: digest })).statusCode).toBe(200);
      await api.close();
    });

    it("the API refuses unknown fields, wrong types and deep corrections with 400, limits each caller's rate, and keeps internal errors to its log", async () => {
      const { api, tokens } = await apiWithDevTokens(rig.signed, { rateLimit: 5 });
      const post = (url: string, payload: string) =>
        api.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
          payload,
        });
      const typed = await post(
        '/runbooks/approval-drill/runs',
        JSON.stringify({ target: 'drill-open', dryRun: 'true' }),
      );
      expect(typed.statusCode).toBe(400);
      expect(typed.json<{ error: string }>().error).toContain('body/dryRun must be boolean');
      const extra = await post(
        '/runbooks/approval-drill/runs',
        JSON.stringify({ target: 'drill-open', initator: 'bob' }),
      );
      expect(extra.statusCode).toBe(400);
      expect(extra.json<{ error: string }>().error).toBe(
        'Invalid request: body has unknown field "initator": remove it (see /docs for the fields this route takes).',
      );
      const deep = await post(
        '/runs/any/gates/proceed',
        `{"decision":"approve","correction":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
      );
      expect(deep.statusCode).toBe(400);
      // Counted per person after authentication and validation: the deep correction was the first, these the next four.
      for (let i = 0; i < 4; i++)
        expect((await post('/runs/any/gates/proceed', JSON.stringify({ decision: 'approve' }))).statusCode).toBe(404);
      const limited = await post('/runs/any/gates/proceed', JSON.stringify({ decision: 'approve' }));
      expect(limited.statusCode).toBe(429);
      expect(limited.json<{ error: string }>().error).toMatch(
        /^Too many requests: at most 5 a minute per caller; try again in \d+ s\.$/,
      );
      expect((await api.inject({ method: 'GET', url: '/console/constructor' })).statusCode).toBe(404);
      await api.close();

      const dead = new RunbookClient(new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }), {
        taskQueue: 'none',
        namespace: 'default',
        uiUrl: 'http://x',
        targets: () => TargetRegistry.load(targetsFile),
      });
      const { api: down } = await apiWithDevTokens(dead);
      const health = await down.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({ error: 'Temporal is not reachable from the API: its log has the details.' });
      await down.close();
    });
  });

  it("signs each notification with its hook's secret (HMAC-SHA256 of timestamp and body) so a receiver can verify it", async () => {
    const id = await drill('drill-signed');
    await rig.client.decide(id, 'proceed', { decision: 'approve' }, approver('bob'));
    expect((await outcome(id)).status).toBe('completed');
    await until(() => hooks.received.filter((r) => r.path === '/signed').length >= 2, 'two notifications');
    const signed = hooks.received.filter((r) => r.path === '/signed');
    expect(signed.map((r) => r.body.event)).toEqual(['gate-opened', 'run-ended']);
    for (const r of signed) expect(verifyNotification(notifySecret, r.headers, r.raw)).toBe(true);
    // What the receiver refuses: an altered body, another secret, a notification replayed after the tolerance.
    const [first] = signed;
    expect(verifyNotification(notifySecret, first!.headers, first!.raw.replace('drill-signed', 'drill-open'))).toBe(
      false,
    );
    expect(verifyNotification('whsec-another', first!.headers, first!.raw)).toBe(false);
    expect(verifyNotification(notifySecret, first!.headers, first!.raw, Date.now() / 1000 + 600)).toBe(false);
  });

  it('sends no notification when its secret variable is unset, and journals an error naming the variable', async () => {
    const id = await drill('drill-signed-unset');
    await until(
      async () => (await rig.client.status(id)).journal!.some((e) => e.step === 'notify:gate-opened'),
      'the failed notification to be journaled',
    );
    const note = (await rig.client.status(id)).journal!.find((e) => e.step === 'notify:gate-opened');
    expect(note).toMatchObject({ outcome: 'failed' });
    expect(note!.error).toContain(
      'Target "drill-signed-unset" signs its notifications with the secret in DRILL_NOTIFY_UNSET (notify[].secretEnv), which is not set in the worker\'s environment.',
    );
    expect(hooks.received.some((r) => r.path === '/unset')).toBe(false);
    await rig.client.decide(id, 'proceed', { decision: 'reject' }, approver('bob'));
  });
});
