import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiWithDevTokens } from './support/api.js';
import { consoleSignedIn, launchChromium } from './support/browser.js';
import type { RunbookResult } from '../src/contract/types.js';
import { finished, pgTarget, repoRoot, startRig, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

// The operator console in a real browser (Debian's chromium driven by playwright-core), against
// the real API, worker and dev server: sign in, read a waiting gate's evidence, approve it, see the
// run go on; the initiator's own approval refused with the API's reason; start a runbook from the
// form (dry run first); copy the timeline. A phone-sized screenshot is kept in .data/.
describe('operator console', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  let browser: Browser;
  let base: string;
  let tokens: Record<string, string>;
  const artifacts = path.join(repoRoot, '.data', 'console');
  // A scheduled check's target, its name unique on the shared dev server (a schedule's id names it).
  const checked = `console-db-${randomBytes(3).toString('hex')}`;
  const schedule = `check-db-access-${checked}`;

  beforeAll(async () => {
    rig = await startRig(writeTargets({ 'console-drill': {}, 'console-other': {}, [checked]: pgTarget('test') }), {
      signingKey: randomBytes(32).toString('hex'),
    });
    ({ api, tokens } = await apiWithDevTokens(rig.signed));
    base = await api.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  });
  afterAll(async () => {
    await rig?.signed.deleteSchedule(schedule).catch(() => undefined);
    await browser?.close();
    await api?.close();
    await rig?.stop();
  });

  function signedIn(person: string, viewport = { width: 1200, height: 900 }, slow?: string): Promise<Page> {
    return consoleSignedIn(browser, base, person, tokens[person]!, {
      viewport,
      // A loaded server: these answers come 1.5 s late.
      before: slow
        ? (page) =>
            page.route(slow, async (r) => {
              await new Promise((ok) => setTimeout(ok, 1500));
              await r.continue();
            })
        : undefined,
    });
  }

  it("an approver reads the waiting gate's evidence and approves it; the next step runs; the initiator's own approval is refused with the reason", async () => {
    const { id } = await rig.signed.start('approval-drill', {
      target: 'console-drill',
      initiator: 'alice',
      input: { prompt: 'Drill: approve to record the decision on console-drill.' },
    });

    // alice started it: four-eyes refuses her approval, and the page says why.
    const alice = await signedIn('alice');
    // The list holds every test's runs: filter it to this target, as an operator would.
    await alice.getByLabel('Target').fill('console-drill');
    await alice
      .locator('table.runs tr', { hasText: 'console-drill' })
      .getByRole('link', { name: 'approval-drill' })
      .first()
      .click();
    await alice.getByRole('heading', { name: 'Waiting for approval: proceed' }).waitFor();
    await alice.getByRole('button', { name: 'Approve proceed' }).click();
    const refusal = alice.getByRole('alert').filter({ hasText: 'Refused:' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('four-eyes');
    expect((await rig.signed.status(id)).pendingGates.map((g) => g.gate)).toEqual(['proceed']);

    // bob, on a phone: the prompt, the policy and the evidence are on the page; he approves.
    // His list of runs is still loading (slowly) when he opens the run's link: the run page stays.
    const bob = await signedIn('bob', { width: 390, height: 844 }, '**/runbooks');
    const listAnswered = bob.waitForResponse((r) => r.url().endsWith('/runbooks'));
    await bob.goto(`${base}/console/#/run/${encodeURIComponent(id)}`);
    await bob.getByRole('heading', { name: 'Waiting for approval: proceed' }).waitFor();
    await listAnswered;
    await bob.evaluate(() => new Promise((ok) => setTimeout(ok, 0))); // the page has handled the answer
    expect(await bob.getByRole('heading', { name: 'Runs' }).count()).toBe(0);
    await bob.getByRole('heading', { name: 'Waiting for approval: proceed' }).waitFor({ timeout: 1000 });
    expect(await bob.locator('.gate .prompt').textContent()).toBe(
      'Drill: approve to record the decision on console-drill.',
    );
    expect(await bob.locator('.gate .policy').textContent()).toContain(
      'four-eyes: alice (who started it) may not approve',
    );
    expect(await bob.locator('.gate .policy').textContent()).toMatch(/approvals: 0 of 1/);
    await bob.screenshot({ path: path.join(artifacts, 'console-phone.png'), fullPage: true });
    await bob.getByLabel('Comment for proceed').fill('checked with the on-call lead');
    await bob.getByRole('button', { name: 'Approve proceed' }).click();
    await bob.getByText('Approved.').waitFor();
    // The page follows the run: the gate leaves, the recorded step appears, the run completes.
    await bob.locator('table.journal td', { hasText: 'record-decision' }).first().waitFor();
    await bob.locator('.status-completed').first().waitFor();
    expect(await bob.locator('.gate').count()).toBe(0);
    const run = await finished(rig.signed, id);
    expect(run.journal?.find((e) => e.kind === 'decision')).toMatchObject({
      actor: 'bob',
      outcome: 'approved',
      comment: 'checked with the on-call lead',
      channel: { via: 'update', signed: true },
    });

    // The timeline export, as Markdown, with the decision in it.
    await bob.getByRole('button', { name: 'Load the timeline (Markdown)' }).click();
    await expect.poll(() => bob.getByLabel('Incident timeline (Markdown)').inputValue()).toContain('bob');
    expect(await bob.getByLabel('Incident timeline (Markdown)').inputValue()).toContain(
      'checked with the on-call lead',
    );
    // Nothing secret on the page: the token is in no visible text.
    expect(await bob.locator('body').innerText()).not.toContain(tokens.bob);
  });

  it('an operator starts a runbook from the form generated from its input schema, dry run first, then for real', async () => {
    const alice = await signedIn('alice');
    await alice.getByRole('link', { name: 'Start a runbook' }).click();
    await alice.getByRole('heading', { name: 'Start a runbook' }).waitFor();
    await alice.getByLabel('Runbook').selectOption('approval-drill');
    await alice.getByLabel('Target').selectOption('console-other');
    await alice.getByLabel('prompt').fill('Console start: dry run first.');
    expect(await alice.getByLabel('Dry run first (changes nothing; shows what it would do)').isChecked()).toBe(true);
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.getByRole('heading', { name: 'approval-drill on console-other' }).waitFor();
    await alice.getByRole('button', { name: 'Start it for real' }).waitFor();
    const dryId = decodeURIComponent(alice.url().split('#/run/')[1]!);
    expect((await rig.signed.status(dryId)).status).toBe('completed');
    await alice.getByRole('button', { name: 'Start it for real' }).click();
    await alice.waitForURL((u) => !u.hash.endsWith(encodeURIComponent(dryId)));
    await alice.getByRole('heading', { name: 'Waiting for approval: proceed' }).waitFor();
    const realId = decodeURIComponent(alice.url().split('#/run/')[1]!);
    expect(await alice.locator('.gate .prompt').textContent()).toBe('Console start: dry run first.');
    const real = await rig.signed.status(realId);
    expect([real.initiator, real.target, real.status]).toEqual(['alice', 'console-other', 'waiting']);
    await rig.signed.abort(realId, 'alice', 'console test done');
  });

  it('a viewer follows runs but gets no approve or start controls; a wrong token is refused at sign-in', async () => {
    const carol = await signedIn('carol');
    await carol.getByRole('heading', { name: 'Runs' }).waitFor();
    await carol.getByRole('link', { name: 'Start a runbook' }).click();
    await carol.getByText('You lack the operator role').waitFor();
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/console/`);
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token is not known to the API.').waitFor();
  });

  it('lists the scheduled checks with their last result; a viewer only reads them, an operator pauses with a note, resumes and deletes', async () => {
    await rig.signed.createSchedule('db-access', checked, '366d', { initiator: 'alice' });
    await rig.signed.triggerSchedule(schedule);
    let runId = '';
    await until(async () => {
      const [run] = (await rig.client.list({ runbook: 'db-access', target: checked })).filter(
        (r) => r.status === 'completed',
      );
      runId = run?.id ?? '';
      return runId !== '';
    }, 'the scheduled check to complete');
    const healthy = ((await finished(rig.client, runId)).result as RunbookResult).healthy;
    const row = (page: Page) => page.locator('table.schedules tbody tr', { hasText: schedule });

    // carol, a viewer: the schedule, when it runs next, how its last run went (a link to it); no controls.
    const carol = await signedIn('carol');
    await carol.getByRole('link', { name: 'Schedules' }).click();
    await carol.getByRole('heading', { name: 'Schedules' }).waitFor();
    await row(carol)
      .getByText(healthy ? 'healthy' : 'found a problem')
      .waitFor();
    expect(
      await row(carol)
        .locator('td')
        .evaluateAll((tds) => tds.slice(1, 4).map((td) => td.textContent)),
    ).toEqual(['db-access', checked, '366d']);
    expect(await row(carol).locator('td').nth(4).innerText()).toBe('active\nCreated by alice');
    expect(await row(carol).locator('td').nth(5).innerText()).not.toBe('—');
    expect(
      await row(carol)
        .getByRole('link', { name: /healthy|found a problem/ })
        .getAttribute('href'),
    ).toBe(`#/run/${encodeURIComponent(runId)}`);
    expect(await row(carol).getByRole('button').count()).toBe(0);
    await carol.getByText('You lack the operator role: you can read them, not pause or delete them.').waitFor();

    // alice, an operator: pause with a note, resume, delete (asked twice).
    const alice = await signedIn('alice', { width: 390, height: 844 });
    await alice.goto(`${base}/console/#/schedules`);
    await alice.getByLabel(`Note for ${schedule}`).fill('database maintenance until 18:00');
    await alice.getByRole('button', { name: `Pause ${schedule}` }).click();
    await alice.getByText(`Paused ${schedule}.`).waitFor();
    await row(alice).getByText('database maintenance until 18:00 (paused by alice)').waitFor();
    expect(await rig.signed.describeSchedule(schedule)).toMatchObject({
      paused: true,
      note: 'database maintenance until 18:00 (paused by alice)',
    });
    await alice.screenshot({ path: path.join(artifacts, 'schedules-phone.png'), fullPage: true });
    await alice.getByRole('button', { name: `Resume ${schedule}` }).click();
    await alice.getByText(`Resumed ${schedule}.`).waitFor();
    expect((await rig.signed.describeSchedule(schedule)).paused).toBe(false);
    await alice.getByRole('button', { name: `Delete ${schedule}`, exact: true }).click();
    await alice.getByRole('button', { name: `Really delete ${schedule}` }).click();
    await alice.getByText(`Deleted ${schedule}; its past runs stay.`).waitFor();
    await expect(rig.signed.describeSchedule(schedule)).rejects.toThrow(`Schedule "${schedule}" not found`);
    await until(async () => (await row(alice).count()) === 0, 'the deleted schedule to leave the page');
  });
});
