import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionError } from '../src/client.js';
import { apiWithDevTokens } from './support/api.js';
import { runbookCli } from './support/cli.js';
import { finished, pgTarget, repoRoot, startRig, uniqueName, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

// After a run's first change, a step that still fails parks at a recovery gate instead of ending
// the run: retry with a correction, skip (where allowed), or reject to abort with compensation.
describe('recovery gates', () => {
  let rig: TestRig;
  let targetsFile: string;
  beforeAll(async () => {
    targetsFile = writeTargets({
      'rec-db': pgTarget('test', { policy: { unsignedDecisions: 'allow' } }),
      'down-db': { postgres: { host: '127.0.0.1', port: 1, database: 'x', user: 'postgres' } },
    });
    // The signing key lets the console test decide through the API, signed, as operators do.
    rig = await startRig(targetsFile, {
      workflowsPath: path.join(repoRoot, 'test/fixtures/recovery-workflows/index.ts'),
      signingKey: randomBytes(32).toString('hex'),
    });
  });
  afterAll(() => rig?.stop());

  const parked = async (extra: Record<string, unknown> = {}) => {
    const id = uniqueName('recovery');
    await rig.client.temporal.workflow.start('recoveryProbe', {
      taskQueue: rig.taskQueue,
      workflowId: id,
      args: [
        {
          target: 'rec-db',
          verifyTarget: 'down-db',
          initiator: 'alice',
          retry: { initialInterval: '100 ms', maximumAttempts: 2 },
          ...extra,
        },
      ],
    });
    await until(
      async () => (await rig.client.status(id)).pendingGates.some((g) => g.gate === 'recover:verify'),
      'the run to park at its recovery gate',
    );
    return id;
  };
  const bob = { person: 'bob', roles: ['approver'] };

  it("parks a failing step with the error, then retries it with the approver's correction", async () => {
    const id = await parked();
    const gate = (await rig.client.status(id)).pendingGates[0]!;
    expect(gate).toMatchObject({ kind: 'recovery', skippable: false, evidence: { step: 'verify' } });
    expect(gate.prompt).toContain(
      'Step "verify" failed after its retries, after this run had changed rec-db: Cannot connect to PostgreSQL at 127.0.0.1:1',
    );
    const closed = await rig.client.decide(
      id,
      'recover:verify',
      {
        decision: 'approve',
        action: 'retry',
        correction: { verifyTarget: 'rec-db' },
        comment: 'pointed at the right database',
      },
      bob,
    );
    expect(closed.status).toBe('approved');
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(run.result).toEqual({ verifiedOn: 'test' });
    const verifies = run.journal!.filter((e) => e.kind === 'step' && e.step === 'verify');
    expect(verifies.map((e) => e.outcome)).toEqual(['failed', 'ok']);
    expect(verifies[1]!.inputs).toEqual({ correction: { verifyTarget: 'rec-db' } });
  });

  it('refuses to skip a step the runbook does not allow skipping, and skips one it does, with the reason journaled', async () => {
    const strict = await parked();
    const err = await rig.client.decide(strict, 'recover:verify', { decision: 'approve', action: 'skip' }, bob).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecisionError);
    expect((err as Error).message).toBe(
      'The failed step of gate "recover:verify" cannot be skipped: retry it (with a correction if needed) or reject to abort.',
    );
    await rig.client.decide(strict, 'recover:verify', { decision: 'reject' }, bob);

    const lenient = await parked({ skippable: true });
    await rig.client.decide(
      lenient,
      'recover:verify',
      { decision: 'approve', action: 'skip', comment: 'verified by hand' },
      bob,
    );
    const run = await finished(rig.client, lenient);
    expect(run.result).toEqual({ verifiedOn: 'skipped' });
    expect(run.journal!.find((e) => e.kind === 'note' && e.step === 'verify')).toMatchObject({
      actor: 'bob',
      comment: 'Skipped: verified by hand',
    });
  });

  it('aborts on reject and runs the compensations of what was changed, in reverse', async () => {
    const id = await parked();
    await rig.client.decide(id, 'recover:verify', { decision: 'reject', comment: 'stop here' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('aborted');
    expect(run.error).toBe(
      'Gate "recover:verify" was rejected by bob: stop here Compensations ran, in reverse: undo-change.',
    );
    expect(run.journal!.find((e) => e.kind === 'compensation')).toMatchObject({ step: 'undo-change', outcome: 'ok' });
  });

  it('after a plain retry fails the same way, says retrying unchanged will fail again and proposes a correction or abort; a reject then undoes the change', async () => {
    const id = await parked();
    const first = (await rig.client.status(id)).pendingGates[0]!;
    expect(first.evidence).toMatchObject({
      step: 'verify',
      failures: 1,
      sameErrorAsLast: false,
      suggested: ['retry', 'correct', 'abort'],
    });

    await rig.client.decide(
      id,
      'recover:verify',
      { decision: 'approve', action: 'retry', comment: 'try once more' },
      bob,
    );
    await until(
      async () =>
        (await rig.client.status(id)).pendingGates.some((g) => g.gate === 'recover:verify' && g.opening === 2),
      'the unchanged retry to park the step again',
    );
    const again = (await rig.client.status(id)).pendingGates[0]!;
    expect(again.prompt).toMatch(
      /^Step "verify" failed twice with the same error: retrying unchanged will fail again\. After this run had changed rec-db: Cannot connect to PostgreSQL at 127\.0\.0\.1:1/,
    );
    expect(again.prompt).toContain(
      'Instead, retry with a correction {"verifyTarget": "<name of a target in the targets file>"}, or reject to abort and undo. Only retry unchanged if you fixed the cause outside this run.',
    );
    expect(again.evidence).toMatchObject({
      step: 'verify',
      failures: 2,
      sameErrorAsLast: true,
      suggested: ['correct', 'abort'],
      corrections: { verifyTarget: 'name of a target in the targets file' },
    });
    // `runbook status` lists the suggested actions first, and the unchanged retry last, with its condition.
    const shown = (
      await runbookCli(['status', id], { RUNBOOK_TARGETS: targetsFile, RUNBOOK_TASK_QUEUE: rig.taskQueue })
    ).stdout;
    expect(shown).toContain(
      `decide: runbook approve ${id} recover:verify --correction '{"verifyTarget":"<name of a target in the targets file>"}'   |   runbook reject ${id} recover:verify --comment "…" (abort and undo)`,
    );
    expect(shown).toContain(
      `retry unchanged only if you fixed the cause outside this run: runbook approve ${id} recover:verify`,
    );

    await rig.client.decide(id, 'recover:verify', { decision: 'reject', comment: 'the verify target is wrong' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('aborted');
    expect(run.error).toBe(
      'Gate "recover:verify" was rejected by bob: the verify target is wrong Compensations ran, in reverse: undo-change.',
    );
    expect(run.journal!.filter((e) => e.kind === 'step' && e.step === 'verify').map((e) => e.outcome)).toEqual([
      'failed',
      'failed',
    ]);
    expect(run.journal!.find((e) => e.kind === 'compensation')).toMatchObject({ step: 'undo-change', outcome: 'ok' });
  });

  it('in the console, offers the unchanged retry last after it failed the same way, and retries with the correction typed there', async () => {
    const id = await parked();
    const { api, tokens } = await apiWithDevTokens(rig.signed);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${await api.listen({ host: '127.0.0.1', port: 0 })}/console/`);
      await page.getByLabel('API token').fill(tokens.bob);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('bob (').waitFor();
      await page.goto(`${page.url().split('#')[0]}#/run/${encodeURIComponent(id)}`);
      await page.getByRole('heading', { name: 'Step failed, waiting for a decision: recover:verify' }).waitFor();
      const actions = page.locator('.gate .actions button');
      expect(await actions.allTextContents()).toEqual([
        'Retry verify',
        'Retry verify with the correction',
        'Reject: abort and undo',
      ]);
      await page.getByRole('button', { name: 'Retry verify', exact: true }).click();

      // The same error again: the page says so, and the unchanged retry moves last, with its condition.
      await page.getByText('retrying unchanged will fail again', { exact: false }).first().waitFor();
      expect(await actions.allTextContents()).toEqual([
        'Retry verify with the correction',
        'Reject: abort and undo',
        'Retry verify unchanged (only if you fixed the cause outside this run)',
      ]);
      await page.getByLabel('Correction for verify').fill('{"verifyTarget": "rec-db"}');
      await page.getByRole('button', { name: 'Retry verify with the correction' }).click();
      const run = await finished(rig.client, id);
      expect(run.result).toEqual({ verifiedOn: 'test' });
      expect(run.journal!.filter((e) => e.kind === 'decision').map((e) => [e.actor, e.inputs, e.channel])).toEqual([
        ['bob', { action: 'retry' }, { via: 'update', signed: true }],
        ['bob', { action: 'retry', correction: { verifyTarget: 'rec-db' } }, { via: 'update', signed: true }],
      ]);
    } finally {
      await browser.close();
      await api.close();
    }
  });

  it('still fails at once when a step fails before any change', async () => {
    const id = uniqueName('recovery');
    await rig.client.temporal.workflow.start('recoveryProbe', {
      taskQueue: rig.taskQueue,
      workflowId: id,
      args: [{ target: 'down-db', verifyTarget: 'down-db', retry: { initialInterval: '100 ms', maximumAttempts: 2 } }],
    });
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/^Step "change" failed: Cannot connect to PostgreSQL at 127\.0\.0\.1:1/);
    expect(run.journal!.some((e) => e.kind === 'gate')).toBe(false);
  });

  it('decides gates on parallel branches independently, by gate id', async () => {
    const id = uniqueName('parallel');
    await rig.client.temporal.workflow.start('parallelGates', {
      taskQueue: rig.taskQueue,
      workflowId: id,
      args: [{ target: 'rec-db', initiator: 'alice' }],
    });
    await until(async () => (await rig.client.status(id)).pendingGates.length === 2, 'both gates to open');
    expect((await rig.client.decide(id, 'right', { decision: 'approve' }, bob)).status).toBe('approved');
    const still = await rig.client.status(id);
    expect(still.pendingGates.map((g) => g.gate)).toEqual(['left']);
    expect(still.status).toBe('waiting');
    await rig.client.decide(id, 'left', { decision: 'approve' }, { person: 'dave', roles: ['approver'] });
    expect((await finished(rig.client, id)).result).toEqual({ left: ['dave'], right: ['bob'] });
  });
});
