import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEvidenceViews } from '../src/evidence/view.js';
import type { RunView } from '../src/client.js';
import type { GateView } from '../src/contract/types.js';
import { apiWithDevTokens } from './support/api.js';
import { consoleSignedIn, launchChromium } from './support/browser.js';
import { runbookCli } from './support/cli.js';
import { appDatabase, dbTarget, dropAllFor, revisionOf } from './support/databases.js';
import { gateSamples } from './support/gate-evidence.js';
import {
  alembic,
  finished,
  fixtureApp,
  gateOpened,
  PG,
  repoRoot,
  sql,
  startRig,
  tmpDir,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import {
  celeryWorkerService,
  claimRedisDb,
  killWorker,
  publishItems,
  workerFiles,
  type WorkerFiles,
} from './support/imports.js';

// #20 "Evidence a person can read": the gates of real runs in the console (Debian's chromium via
// playwright-core, against the real API, worker, PostgreSQL, alembic and Redis), each read as
// facts, lists, tables and code, with no JSON on the page until "raw JSON" is opened. The phone
// screenshot of the downgrade gate goes to .data/console/ (docs/downgrade-gate-phone.png is one).
describe('evidence at the gates, in the console', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  let browser: Browser;
  let base: string;
  let tokens: Record<string, string>;
  let env: Record<string, string>;
  const dbs: Record<string, string> = {};
  const backups: Record<string, string> = {};
  let imports: { db: string; redis: Awaited<ReturnType<typeof claimRedisDb>>; files: WorkerFiles } | undefined;
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };

  /** What a deploy's `alembic upgrade head` does to a database holding an invoice 0005 refuses: 0004 applied, 0005's index left behind. */
  async function failedRelease(db: string): Promise<void> {
    await sql(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`);
    await expect(alembic(db, ['upgrade', 'head'])).rejects.toThrow(/ck_invoices_estado/);
  }

  beforeAll(async () => {
    for (const k of ['downgrade', 'restore']) {
      dbs[k] = await appDatabase('0003_invoices', `ev_${k}`);
      backups[k] = tmpDir(`ev-${k}-backups-`);
    }
    imports = {
      db: await appDatabase('0004_imports_payments', 'ev_imports'),
      redis: await claimRedisDb(),
      files: workerFiles(tmpDir('ev-imports-')),
    };
    const file = writeTargets({
      'ev-downgrade': dbTarget(dbs.downgrade!, {
        freezeWrites: 'read-only',
        backups: { dir: backups.downgrade, retention: '1d' },
      }),
      'ev-restore': dbTarget(dbs.restore!, {
        freezeWrites: 'read-only',
        backups: { dir: backups.restore, retention: '1d' },
      }),
      'ev-imports': {
        postgres: { ...PG, database: imports.db },
        redis: { url: imports.redis.url },
        services: { 'imports-worker': celeryWorkerService(imports.files, imports.db, imports.redis.url) },
        imports: {
          stuckAfter: '0s',
          logs: { file: imports.files.logFile },
          celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', queue: 'imports', cwd: fixtureApp },
          service: 'imports-worker',
        },
      },
      'ev-drill': {},
    });
    rig = await startRig(file, { signingKey: randomBytes(32).toString('hex') });
    env = { RUNBOOK_TARGETS: file, RUNBOOK_TASK_QUEUE: rig.taskQueue };
    ({ api, tokens } = await apiWithDevTokens(rig.signed));
    base = await api.listen({ host: '127.0.0.1', port: 0 });
    mkdirSync(path.join(repoRoot, '.data', 'console'), { recursive: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (imports) await killWorker(imports.files);
    await browser?.close();
    await api?.close();
    await rig?.stop();
    if (imports) {
      await imports.redis.release();
      await dropAllFor(imports.db);
    }
    for (const db of Object.values(dbs)) await dropAllFor(db);
  });

  /** bob, the approver, on a phone, on the run's page. */
  async function onPhone(id: string, gate: string): Promise<Page> {
    const page = await consoleSignedIn(browser, base, 'bob', tokens.bob!, {
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
    });
    await page.goto(`${base}/console/#/run/${encodeURIComponent(id)}`);
    await page.getByRole('heading', { name: `Waiting for approval: ${gate}` }).waitFor();
    return page;
  }

  /** What a person sees of the gate: no JSON anywhere (code blocks hold commands and SQL only). */
  async function expectNoJsonShown(page: Page, scope = '.gate'): Promise<void> {
    const gate = page.locator(scope);
    expect(await gate.innerText()).not.toMatch(/\{\s*"|"\s*:\s*[[{"\d]/);
    for (const pre of await gate.locator('pre').all()) {
      if (!(await pre.isVisible())) continue;
      expect((await pre.innerText()).trim()).not.toMatch(/^[[{]/);
    }
  }

  const sectionOf = (page: Page, title: string) =>
    page.locator('.gate .evidence section', { has: page.getByRole('heading', { name: title, exact: true }) });

  it('the migration-failed downgrade gate reads on a phone as the schema differences, the rehearsal, the command and SQL, and the undo point; the same in runbook status and the timeline', async () => {
    const db = dbs.downgrade!;
    await failedRelease(db);
    const { id } = await rig.signed.start('migration-failed', {
      target: 'ev-downgrade',
      initiator: 'alice',
      input: { retry, toRevision: '0004_imports_payments', rootCauseDeadline: '1s' },
    });
    await gateOpened(rig.signed, id, 'freeze-writes', 120_000);
    const page = await onPhone(id, 'freeze-writes');
    const diff = sectionOf(
      page,
      'Schema differences: the live database (against a fresh build of 0004_imports_payments)',
    );
    expect(await diff.locator('li').allInnerTexts()).toEqual([
      'extra: CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)',
    ]);
    await expectNoJsonShown(page);

    await rig.signed.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpened(rig.signed, id, 'downgrade', 120_000);
    // The page follows the run: the downgrade gate replaces the freeze gate.
    await page.getByRole('heading', { name: 'Waiting for approval: downgrade' }).waitFor({ timeout: 30_000 });
    const rehearsal = sectionOf(page, 'Rehearsal on a clone of the data');
    expect(await rehearsal.locator('dt').allInnerTexts()).toEqual([
      'Rehearsed',
      'Ran',
      'Clean (equals a fresh build)',
      'Took',
      'Revision after',
    ]);
    expect(await rehearsal.locator('dd').allInnerTexts()).toEqual([
      'downgrade to 0004_imports_payments',
      'yes',
      'yes',
      expect.stringMatching(/^\d+(\.\d)? m?s$|^\d+ min \d+ s$/),
      '0004_imports_payments',
    ]);
    expect(await sectionOf(page, 'Command that will run on approval').locator('pre').innerText()).toBe(
      'alembic downgrade 0004_imports_payments',
    );
    expect(await sectionOf(page, 'SQL that will run after it (drops the leftovers)').locator('pre').innerText()).toBe(
      'DROP INDEX IF EXISTS public.ix_invoices_estado;',
    );
    const undo = sectionOf(page, 'Undo point (backup taken by this run)');
    const undoFacts = Object.fromEntries((await undo.locator('dt').allInnerTexts()).map((k, i) => [k, i]));
    const values = await undo.locator('dd').allInnerTexts();
    expect(values[undoFacts['Dump size']!]).toMatch(/^\d+\.\d (KiB|MiB) \([\d,]+ bytes\)$/);
    expect(values[undoFacts['Manifest sha256']!]).toMatch(/^[0-9a-f]{64}$/);
    expect(values[undoFacts.Made!]).toMatch(/^\d+ (s|min) ago \(\d{4}-/);
    await expectNoJsonShown(page);
    // The page from its top (the sticky header) to the end of the gate card.
    await page.evaluate(() => window.scrollTo(0, 0));
    const card = (await page.locator('.gate').boundingBox())!;
    // Kept in .data/ (docs/downgrade-gate-phone.png is a copy of one, committed by hand: a test run leaves the tree clean).
    await page.screenshot({
      path: path.join(repoRoot, '.data', 'console', 'downgrade-gate-phone.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 390, height: card.y + card.height + 8 },
    });

    // Raw JSON is one click away.
    const raw = page.locator('.gate details.raw pre');
    expect(await raw.isVisible()).toBe(false);
    await page.locator('.gate details.raw summary').click();
    expect(await raw.innerText()).toContain('"rehearsal"');

    // `runbook status` prints the same view as text.
    const status = await runbookCli(['status', id], env);
    expect(status.stdout).toContain(
      '    evidence:\n      Rehearsal on a clone of the data:\n        Rehearsed: downgrade to 0004_imports_payments\n        Ran: yes',
    );
    expect(status.stdout).toContain(
      '      Command that will run on approval:\n        | alembic downgrade 0004_imports_payments',
    );
    expect(status.stdout).toContain('        | DROP INDEX IF EXISTS public.ix_invoices_estado;');
    expect(status.stdout).not.toMatch(/\{"/);

    await rig.signed.decide(id, 'downgrade', { decision: 'approve' }, bob);
    const run = await finished(rig.signed, id);
    expect(run.result).toMatchObject({ findings: { outcome: 'downgraded' } });
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']);
    // The incident timeline carries each gate's view in Markdown.
    const md = await (
      await fetch(`${base}/runs/${encodeURIComponent(id)}/timeline?format=md`, {
        headers: { authorization: `Bearer ${tokens.carol}` },
      })
    ).text();
    expect(md).toContain('### downgrade (opened ');
    expect(md).toContain('```shell\nalembic downgrade 0004_imports_payments\n```');
    expect(md).toContain('- extra: CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)');
    expect(md).not.toMatch(/\{"/);
  });

  it('the restore gate shows the rows the restore would lose, table by table, and the backup it puts back: size, sha256', async () => {
    const db = dbs.restore!;
    const backup = path.join(backups.restore!, 'backup.sql');
    await execa('pg_dump', ['-h', PG.host, '-U', PG.user, '-f', backup, db]);
    await failedRelease(db);
    // A report view on import_items makes 0004's downgrade (drop table import_items) fail: only a restore repairs.
    await sql(db, `create view import_report as select batch_id, count(*) from import_items group by 1`);
    const { id } = await rig.signed.start('migration-failed', {
      target: 'ev-restore',
      initiator: 'alice',
      input: { retry, toRevision: '0003_invoices', backup },
    });
    await gateOpened(rig.signed, id, 'freeze-writes', 120_000);
    await rig.signed.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpened(rig.signed, id, 'restore', 180_000);
    const page = await onPhone(id, 'restore');
    const lost = sectionOf(page, 'Rows the restore would lose');
    expect(await lost.locator('th').allInnerTexts()).toEqual([
      'Table',
      'Rows lost',
      'Newest in the live database',
      'Newest in the backup',
    ]);
    const rows = await lost
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    // invoices has no timestamp column: its newest row cannot be dated, and the table says so.
    expect(rows).toContainEqual([expect.stringMatching(/invoices$/), '1', '—', '—']);
    const source = sectionOf(page, 'What the restore puts back');
    const facts = Object.fromEntries(
      await source
        .locator('dt')
        .evaluateAll((dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent])),
    );
    expect(facts).toMatchObject({
      Source: `backup ${backup}`,
      Format: 'plain',
      Size: expect.stringMatching(/bytes\)$/) as unknown,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    await expectNoJsonShown(page);
    await rig.signed.abort(id, 'alice', 'evidence test done');
    await finished(rig.signed, id);
  });

  it('the stuck-imports remediation gate lists the causes the diagnosis found and the stuck items', async () => {
    const x = imports!;
    // The app queued items 1–5 and published them; the broker lost the messages; the worker is down.
    await sql(x.db, `update import_items set status = 'queued' where id <= 5`);
    await publishItems(x.redis.url, [1, 2, 3, 4, 5]);
    await x.redis.redis.del('imports');
    const { id } = await rig.signed.start('stuck-imports', {
      target: 'ev-imports',
      initiator: 'alice',
      input: { retry },
    });
    await gateOpened(rig.signed, id, 'remediate', 120_000);
    const page = await onPhone(id, 'remediate');
    const causes = await sectionOf(page, 'Diagnosis: causes found').locator('li').allInnerTexts();
    expect(causes).toEqual([
      expect.stringMatching(/^dead-worker: The imports worker is not running/),
      expect.stringMatching(/^lost-messages: 5 item\(s\) waiting/),
    ]);
    expect(await sectionOf(page, 'Stuck items').locator('dd').first().innerText()).toBe('5');
    await expectNoJsonShown(page);
    await rig.signed.abort(id, 'alice', 'evidence test done');
    await finished(rig.signed, id);
  });

  it('every gate of every runbook reads in the console as its view, no JSON until "raw JSON" is opened', async () => {
    // A dry run stops before every gate, and most gates need a broken app to open: the page of a real
    // waiting run (an approval drill) is served with each gate's evidence in its place, recorded from
    // real runs where one reached the gate (test/support/gate-evidence.ts), its view made as the API makes it.
    const { id } = await rig.signed.start('approval-drill', {
      target: 'ev-drill',
      initiator: 'alice',
      input: { prompt: 'Drill.' },
    });
    await gateOpened(rig.signed, id, 'proceed');
    const samples = gateSamples();
    const page = await consoleSignedIn(browser, base, 'bob', tokens.bob!, { viewport: { width: 390, height: 844 } });
    await page.route(/\/runs\/gate-sample-\d+$/, async (route) => {
      const sample = samples[Number(/(\d+)$/.exec(route.request().url())![1])]!;
      const real = (await (await route.fetch({ url: `${base}/runs/${encodeURIComponent(id)}` })).json()) as RunView;
      const gate: GateView = {
        ...real.pendingGates[0]!,
        gate: sample.gate,
        kind: sample.kind,
        skippable: false,
        prompt: sample.prompt,
        evidence: sample.evidence,
      };
      await route.fulfill({
        json: withEvidenceViews({
          ...real,
          runbook: sample.runbook,
          pendingGates: [gate],
          journal: sample.journal ?? real.journal,
        }),
      });
    });
    // The gate's screenshot starts at its heading, not under the sticky header.
    await page.locator('header').evaluate((el) => {
      el.style.position = 'static';
    });
    const dir = path.join(repoRoot, '.data', 'console', 'gates');
    mkdirSync(dir, { recursive: true });
    for (const [i, g] of samples.entries()) {
      const name = `${g.runbook}:${g.gate}`;
      await page.evaluate((hash) => {
        location.hash = hash;
      }, `#/run/gate-sample-${i}`);
      await page.getByRole('heading', { name: `${g.runbook} on ev-drill` }).waitFor();
      await page
        .getByRole('heading', {
          name:
            g.kind === 'recovery'
              ? `Step failed, waiting for a decision: ${g.gate}`
              : `Waiting for approval: ${g.gate}`,
        })
        .waitFor();
      // Rendered by the view: one section per part of it, not the "no evidence view" hint.
      expect(await page.locator('.gate .evidence section').count(), name).toBeGreaterThan(0);
      expect(await page.locator('.gate .evidence').innerText(), name).not.toContain('open "raw JSON"');
      // The evidence (a recovery gate's prompt shows the JSON a correction is written in, on purpose).
      await expectNoJsonShown(page, '.gate .evidence');
      await page
        .locator('.gate')
        .screenshot({ path: path.join(dir, `${g.runbook}-${g.gate.replace(/[^\w-]/g, '_')}.png`) });
      // Raw JSON is one click away.
      const raw = page.locator('.gate details.raw pre');
      expect(await raw.isVisible(), name).toBe(false);
      await page.locator('.gate details.raw summary').click();
      expect(await raw.innerText(), name).toMatch(new RegExp(`^\\{\\n  "${Object.keys(g.evidence as object)[0]}": `));
    }
    await rig.signed.abort(id, 'alice', 'evidence test done');
  });

  it('a gate whose evidence no view knows (approval-drill) still reads as facts, not JSON', async () => {
    const { id } = await rig.signed.start('approval-drill', {
      target: 'ev-drill',
      initiator: 'alice',
      input: { prompt: 'Drill.' },
    });
    await gateOpened(rig.signed, id, 'proceed');
    const page = await onPhone(id, 'proceed');
    const details = sectionOf(page, 'Details');
    expect(await details.locator('dt').allInnerTexts()).toEqual(['Drill', 'Target']);
    expect(await details.locator('dd').allInnerTexts()).toEqual(['yes', 'ev-drill']);
    await expectNoJsonShown(page);
    await rig.signed.abort(id, 'alice', 'evidence test done');
  });
});
