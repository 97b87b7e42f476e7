import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderMarkdown, type Timeline } from '../src/audit/timeline.js';
import { viewMarkdown, viewText } from '../src/evidence/text.js';
import { evidenceView, type Section } from '../src/evidence/view.js';
import { catalogue } from '../src/runbooks/catalogue.js';
import type { JournalEntry } from '../src/contract/types.js';
import { declaredGates, gateSamples, recordedGates } from './support/gate-evidence.js';
import { repoRoot } from './support/harness.js';

// The evidence an approver reads at a gate (#20), as words: each known shape in its own view, and
// every gate's evidence in the recorded histories readable without JSON, and every gate a runbook
// declares covered by evidence its view reads.

/** Every text a person sees in the view. */
const texts = (sections: Section[]): string[] =>
  sections.flatMap((s) => [
    s.title,
    s.note ?? '',
    ...(s.kind === 'facts'
      ? s.facts.flatMap((f) => [f.label, f.value])
      : s.kind === 'list'
        ? s.items
        : s.kind === 'table'
          ? [...s.columns, ...s.rows.flat()]
          : [s.text]),
  ]);

/** The JSON of every object and array inside the evidence: what a raw-JSON fallback would print. */
function jsonNodes(v: unknown, out: string[] = []): string[] {
  if (typeof v !== 'object' || v === null) return out;
  const values = Object.values(v);
  if (values.length > 0) out.push(JSON.stringify(v));
  values.forEach((x) => jsonNodes(x, out));
  return out;
}

const section = (sections: Section[], title: string | RegExp) => {
  const s = sections.find((x) => (typeof title === 'string' ? x.title === title : title.test(x.title)));
  if (!s) throw new Error(`No section "${String(title)}" in: ${sections.map((x) => x.title).join(' | ')}`);
  return s;
};
const facts = (s: Section) => (s.kind === 'facts' ? Object.fromEntries(s.facts.map((f) => [f.label, f.value])) : {});

const at = '2026-12-01T10:00:00.000Z';
const now = new Date('2026-12-01T10:12:00.000Z');
const step = (name: string, evidence: unknown, inputs?: Record<string, unknown>): JournalEntry => ({
  kind: 'step',
  step: name,
  startedAt: at,
  endedAt: at,
  actor: 'worker',
  outcome: 'ok',
  evidence,
  inputs,
});

const downgrade = {
  rehearsal: {
    plan: 'downgrade to 0004_imports_payments',
    ran: true,
    clean: true,
    revisionAfter: ['0004_imports_payments'],
    diff: { same: true, extra: [], missing: [], reference: 'a fresh build of 0004_imports_payments' },
    cleanup: ['DROP INDEX IF EXISTS public.ix_invoices_estado'],
    notDroppable: [],
    migration: {
      direction: 'downgrade',
      revision: '0004_imports_payments',
      database: 'shop_clone_1',
      ok: true,
      exitCode: 0,
      output: '',
      durationMs: 554,
    },
    durationMs: 2756,
    rowsAfter: { 'public.invoices': 13, 'public.tenants': 2 },
  },
  undoPoint: {
    snapshot: 'shop_snap_1',
    dump: '/var/backups/runbooks/shop_snap_1',
    manifestSha256: '384c0c8d2f3fb6fa869fced908db36afdd5eb217e44af2111688d70ff5bd46a2',
  },
};
const downgradeJournal = [
  step('record-settings', {}, { database: 'shop' }),
  step('snapshot', { name: 'shop_snap_1', sizeBytes: 9_000_000 }),
  step('dump', {
    path: '/var/backups/runbooks/shop_snap_1',
    totalBytes: 1_468_006,
    manifestSha256: downgrade.undoPoint.manifestSha256,
    checks: ['pg_restore --list read 42 entries'],
  }),
];

describe('evidence views', () => {
  it('shows a downgrade gate as the rehearsal (ran, clean, how long, revision after), the command and SQL that will run, and the backup with its size, checksum and age', () => {
    const view = evidenceView('migration-failed', 'downgrade', downgrade, { journal: downgradeJournal, now });
    expect(facts(section(view, 'Rehearsal on a clone of the data'))).toEqual({
      Rehearsed: 'downgrade to 0004_imports_payments',
      Ran: 'yes',
      'Clean (equals a fresh build)': 'yes',
      Took: '2.8 s',
      'Revision after': '0004_imports_payments',
    });
    expect(section(view, 'Command that will run on approval')).toMatchObject({
      kind: 'code',
      language: 'shell',
      text: 'alembic downgrade 0004_imports_payments',
      note: 'On shop (DATABASE_URL set by the worker), as rehearsed.',
    });
    expect(section(view, /^SQL that will run after it/)).toMatchObject({
      kind: 'code',
      language: 'sql',
      text: 'DROP INDEX IF EXISTS public.ix_invoices_estado;',
    });
    expect(facts(section(view, 'Undo point (backup taken by this run)'))).toMatchObject({
      Dump: '/var/backups/runbooks/shop_snap_1',
      'Dump size': '1.4 MiB (1,468,006 bytes)',
      'Manifest sha256': downgrade.undoPoint.manifestSha256,
      Made: `12 min ago (${at})`,
      Verified: 'pg_restore --list read 42 entries',
    });
    expect(section(view, 'Rows on the clone after the rehearsal')).toMatchObject({
      kind: 'table',
      columns: ['Table', 'Rows'],
      rows: [
        ['public.invoices', '13'],
        ['public.tenants', '2'],
      ],
    });
  });

  it('says when the rehearsal failed, with what alembic said, and proposes no command', () => {
    const failed = {
      ...downgrade.rehearsal,
      ran: false,
      clean: false,
      revisionAfter: ['0005_x'],
      migration: {
        ...downgrade.rehearsal.migration,
        ok: false,
        exitCode: 1,
        output: 'cannot drop table import_items because other objects depend on it',
      },
    };
    const view = evidenceView('release-migration', 'upgrade', { rehearsal: failed });
    expect(facts(section(view, 'Rehearsal on a clone of the data'))).toMatchObject({
      Ran: 'NO (exit code 1)',
      'Clean (equals a fresh build)': 'NO',
    });
    expect(section(view, 'What alembic said on the clone')).toMatchObject({
      kind: 'code',
      text: 'cannot drop table import_items because other objects depend on it',
    });
    expect(view.some((s) => s.title.startsWith('Command'))).toBe(false);
  });

  it('lists the schema differences against the fresh build, extra and missing', () => {
    const view = evidenceView('migration-failed', 'freeze-writes', {
      database: 'shop',
      toRevision: '0004_imports_payments',
      leftovers: {
        same: false,
        extra: ['CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)'],
        missing: ['ALTER TABLE public.invoices ADD CONSTRAINT ck CHECK (true)'],
        reference: 'a fresh build of 0004_imports_payments',
        revision: '0004_imports_payments',
      },
    });
    expect(
      section(view, 'Schema differences: the live database (against a fresh build of 0004_imports_payments)'),
    ).toMatchObject({
      kind: 'list',
      items: [
        'extra: CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)',
        'missing: ALTER TABLE public.invoices ADD CONSTRAINT ck CHECK (true)',
      ],
      note: '1 extra (in the database, not in the reference), 1 missing.',
    });
    expect(facts(section(view, 'Details'))).toMatchObject({ Database: 'shop', 'To revision': '0004_imports_payments' });
  });

  it('shows what a restore would lose as a table per table (rows, newest timestamp), and the backup it restores: size, checksum, age', () => {
    const evidence = {
      why: 'The rehearsed downgrade FAILED.',
      source: 'backup /var/backups/runbooks/backup.dump',
      scratch: 'shop_scratch_1',
      lost: [
        {
          table: 'public.invoices',
          rows: 1,
          inBackup: true,
          newestInLive: '2026-12-01T09:58:00Z',
          newestInBackup: '2026-11-30T22:00:00Z',
        },
        {
          table: 'public.import_items',
          rows: 8,
          inBackup: false,
          newestInLive: '2026-12-01T09:00:00Z',
          newestInBackup: null,
        },
      ],
      undoPoint: downgrade.undoPoint,
    };
    const journal = [
      ...downgradeJournal,
      step('preflight', {
        backup: {
          path: '/var/backups/runbooks/backup.dump',
          format: 'custom',
          sha256: 'ab'.repeat(32),
          totalBytes: 2048,
          tableCount: 5,
          manifest: { createdAt: '2026-11-30T10:12:00.000Z' },
          checks: ['pg_restore --list read 30 entries'],
        },
      }),
    ];
    const view = evidenceView('migration-failed', 'restore', evidence, { journal, now });
    expect(section(view, 'Rows the restore would lose')).toMatchObject({
      kind: 'table',
      columns: ['Table', 'Rows lost', 'Newest in the live database', 'Newest in the backup'],
      rows: [
        ['public.invoices', '1', '2026-12-01T09:58:00Z', '2026-11-30T22:00:00Z'],
        ['public.import_items', '8 (table not in the backup)', '2026-12-01T09:00:00Z', '—'],
      ],
    });
    expect(facts(section(view, 'What the restore puts back'))).toMatchObject({
      Source: 'backup /var/backups/runbooks/backup.dump',
      Format: 'custom',
      Size: '2.0 KiB (2,048 bytes)',
      sha256: 'ab'.repeat(32),
      Age: '24 h ago (2026-11-30T10:12:00.000Z)',
    });
    expect(facts(section(view, 'Details'))).toEqual({ Why: 'The rehearsed downgrade FAILED.' });
  });

  it("shows a rollback's lost rows and the snapshot it swaps in", () => {
    const view = evidenceView(
      'release-migration',
      'rollback',
      { failure: 'smoke checks failed', lost: [], snapshot: 'shop_snap_1', snapshotRevision: ['0003_invoices'] },
      { journal: downgradeJournal, now },
    );
    expect(section(view, 'Rows the rollback would lose')).toMatchObject({
      rows: [],
      note: 'None: no table has rows written since.',
    });
    expect(facts(section(view, 'Snapshot the rollback swaps in'))).toEqual({
      Snapshot: 'shop_snap_1',
      'Its revision': '0003_invoices',
      Size: '8.6 MiB (9,000,000 bytes)',
      Made: `12 min ago (${at})`,
    });
  });

  it('lists the diagnosis causes of stuck imports, and the stuck items as facts', () => {
    const view = evidenceView('stuck-imports', 'remediate', {
      diagnosis: {
        causes: [
          { cause: 'dead-worker', detail: 'The imports worker is not running.' },
          { cause: 'lost-messages', detail: '5 item(s) waiting but 0 message(s).' },
        ],
      },
      stuck: { count: 5, sample: [1, 2, 3], olderThan: '0s' },
      queueDepth: 0,
      staleLocks: ['imports:lock:batch:9'],
      rowLocks: [],
    });
    expect(view[0]).toEqual({
      kind: 'list',
      title: 'Diagnosis: causes found',
      items: ['dead-worker: The imports worker is not running.', 'lost-messages: 5 item(s) waiting but 0 message(s).'],
      note: undefined,
    });
    expect(facts(section(view, 'Stuck items'))).toEqual({ Count: '5', Sample: '1, 2, 3', 'Older than': '0s' });
    expect(facts(section(view, 'Details'))).toMatchObject({
      'Queue depth': '0',
      'Stale locks': 'imports:lock:batch:9',
      'Row locks': 'none',
    });
  });

  it('a recovery gate says the failed step, its error, whether a retry would fail alike, and what it proposes', () => {
    const view = evidenceView('migration-failed', 'recover:restore-source', {
      step: 'restore-source',
      error: 'Nothing to restore from.',
      failures: 2,
      sameErrorAsLast: true,
      suggested: ['correct', 'abort'],
      corrections: { backup: 'path of a pg_dump file or directory' },
    });
    expect(facts(view[0]!)).toEqual({
      Step: 'restore-source',
      Error: 'Nothing to restore from.',
      'Failed attempts': '2',
      'Same error as the last retry': 'YES: retrying unchanged will fail again',
    });
    expect(section(view, 'Proposed, most helpful first')).toMatchObject({
      items: ['retry with a correction', 'reject: abort and undo'],
    });
    expect(facts(section(view, 'Corrections the step accepts'))).toEqual({
      backup: 'path of a pg_dump file or directory',
    });
  });

  it('reads any other evidence generically: scalars as facts, lists of records as tables, long text as code', () => {
    const view = evidenceView('janitor', 'remove', {
      remove: [
        { name: 'shop_snap_1', kind: 'snapshot', reason: 'older than 7d' },
        { name: 'shop_old', kind: 'kept', reason: 'run ended' },
      ],
      keep: 3,
      retention: '7d',
      fix: 'services:\n  api:\n    ports: ["8000:8000"]',
      durationMs: 65_000,
      totalBytes: 512,
    });
    expect(facts(section(view, 'Details'))).toEqual({
      Keep: '3',
      Retention: '7d',
      Duration: '1 min 5 s',
      Total: '512 bytes',
    });
    expect(section(view, 'To remove')).toEqual({
      kind: 'table',
      title: 'To remove',
      columns: ['Name', 'Kind', 'Reason'],
      rows: [
        ['shop_snap_1', 'snapshot', 'older than 7d'],
        ['shop_old', 'kept', 'run ended'],
      ],
      note: undefined,
    });
    expect(section(view, 'Fix')).toMatchObject({ kind: 'code', language: 'shell' });
  });

  it('every gate of the recorded runs (test/histories) reads without raw JSON, as text and as Markdown too', () => {
    const recorded = recordedGates();
    // approval-drill, connection-refused, einvoicing, login, migration-failed ×2, missing-file, payments, pwa, release ×2, schema-drift ×2, stuck-imports ×2
    expect(recorded.length).toBeGreaterThanOrEqual(15);
    for (const g of recorded) {
      const view = evidenceView(g.runbook, g.gate, g.evidence);
      expect(view.length, `${g.runbook}:${g.gate}`).toBeGreaterThan(0);
      const shown = [...texts(view), viewText(view).join('\n'), viewMarkdown(view).join('\n')];
      for (const node of jsonNodes(g.evidence))
        for (const t of shown)
          expect(t.includes(node), `${g.runbook}:${g.gate} shows ${node.slice(0, 80)}`).toBe(false);
    }
  });

  it('every gate a runbook declares is one its workflow opens, in the catalogue and in its procedure alike', () => {
    const opened = new Set<string>();
    // Each runbook's workflow is the workflow.ts of its folder.
    for (const { name } of catalogue) {
      const code = readFileSync(path.join(repoRoot, 'src/runbooks', name, 'workflow.ts'), 'utf8');
      for (const m of code.matchAll(/\brb\.gate\(\s*'([^']+)'/g)) opened.add(`${name}:${m[1]}`);
    }
    const declared = declaredGates().map((g) => `${g.runbook}:${g.gate}`);
    expect(new Set(declared)).toEqual(opened);
  });

  it('every gate of every runbook, and a recovery gate, has evidence its view reads without JSON', () => {
    const samples = gateSamples();
    for (const { runbook, gate } of declaredGates()) {
      expect(
        samples.some((s) => s.runbook === runbook && s.gate === gate),
        `gate "${gate}" of ${runbook} has no evidence: record a run that reaches it (test/histories) or add the evidence its workflow gives it to test/support/gate-evidence.ts`,
      ).toBe(true);
    }
    expect(samples.some((s) => s.kind === 'recovery')).toBe(true);
    for (const g of samples) {
      const view = evidenceView(g.runbook, g.gate, g.evidence, { journal: g.journal, now });
      const name = `${g.runbook}:${g.gate}`;
      expect(view.length, name).toBeGreaterThan(0);
      const shown = [...texts(view), viewText(view).join('\n'), viewMarkdown(view).join('\n')];
      for (const node of jsonNodes(g.evidence))
        for (const t of shown) expect(t.includes(node), `${name} shows ${node.slice(0, 80)}`).toBe(false);
      for (const t of texts(view)) expect(t, name).not.toMatch(/^\s*[[{]\s*"/);
    }
  });

  it('never falls back to JSON, whatever the evidence (property)', () => {
    const word = fc.string({ unit: fc.constantFrom(...'abcxyz019 -_.:\n'), maxLength: 12 });
    // Keys that name known shapes, and keys every object inherits, besides plain words.
    const key = fc.oneof(
      word,
      fc.constantFrom(
        'constructor',
        'toString',
        'rehearsal',
        'lost',
        'source',
        'diagnosis',
        'causes',
        'undoPoint',
        'statements',
        'snapshot',
        'step',
        'error',
      ),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        fc.double({ noNaN: true }),
        word,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(key, tie('value'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(
        fc.dictionary(key, value, { minKeys: 1, maxKeys: 6 }),
        fc.constantFrom('downgrade', 'restore', 'rollback', 'remediate', 'recover:x', 'proceed'),
        (evidence, gate) => {
          const view = evidenceView('any', gate, evidence);
          expect(view.length).toBeGreaterThan(0);
          for (const t of [...texts(view), ...viewText(view), ...viewMarkdown(view)]) expect(t).not.toMatch(/[{}"[\]]/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the Markdown timeline shows each gate's evidence view, and steps as words instead of truncated JSON", () => {
    const gate: JournalEntry = {
      kind: 'gate',
      step: 'downgrade',
      startedAt: '2026-12-01T10:12:00.000Z',
      actor: 'bob',
      outcome: 'approved',
      inputs: { prompt: 'Downgrade shop?', planDigest: '0123456789abcdef' },
      evidence: downgrade,
    };
    const t: Timeline = {
      run: {
        id: 'migration-failed-shop-1',
        runbook: 'migration-failed',
        target: 'shop',
        status: 'completed',
        phase: 'completed',
        initiator: 'alice',
        startedAt: at,
        uiUrl: 'http://localhost:8233',
      },
      entries: [...downgradeJournal, gate],
      messages: [],
    };
    const md = renderMarkdown(t);
    expect(md).toContain('## Evidence at the gates\n\n### downgrade (opened 2026-12-01T10:12:00.000Z, approved)');
    expect(md).toContain(
      '**Command that will run on approval**\n\n```shell\nalembic downgrade 0004_imports_payments\n```',
    );
    expect(md).toContain('```sql\nDROP INDEX IF EXISTS public.ix_invoices_estado;\n```');
    expect(md).toContain('- Dump size: 1.4 MiB (1,468,006 bytes)');
    expect(md).toContain('| Table | Rows |\n|---|---|\n| public.invoices | 13 |');
    expect(md).toContain('| dump | step | worker | ok | path: /var/backups/runbooks/shop_snap_1; total: 1.4 MiB');
    expect(md).not.toMatch(/\{"/);
  });
});
