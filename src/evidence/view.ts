import type { JournalEntry } from '../contract/types.js';

/**
 * A gate's evidence as a person reads it (#20): a few titled sections — facts, lists, tables, code —
 * never JSON. Pure, so the API (console), the CLI and the Markdown timeline show the same thing.
 * Known shapes (a rehearsal, a schema diff, lost rows, an undo point, causes, a recovery) get their
 * own wording; anything else goes through the generic reading below, which never prints braces.
 */

export interface Fact {
  label: string;
  value: string;
}

export type Section =
  | { kind: 'facts'; title: string; note?: string; facts: Fact[] }
  | { kind: 'list'; title: string; note?: string; items: string[] }
  | { kind: 'table'; title: string; note?: string; columns: string[]; rows: string[][] }
  | { kind: 'code'; title: string; note?: string; language: 'sql' | 'shell' | 'python' | 'text'; text: string };

export interface ViewContext {
  /** The run's journal: where a gate's undo point or backup has its size and time. */
  journal?: JournalEntry[];
  /** For ages ("12 min ago"); default now. */
  now?: Date;
}

const MAX_ROWS = 50;
const MAX_DEPTH = 3;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) =>
  v === null || v === undefined || ['string', 'number', 'boolean', 'bigint'].includes(typeof v);
const isFlat = (v: unknown): v is Obj => isObj(v) && Object.values(v).every(isScalar);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

// --- words for values ---------------------------------------------------------------------------

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]} (${n.toLocaleString('en')} bytes)`;
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 3600
    ? `${Math.floor(s / 60)} min ${s % 60} s`
    : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function age(iso: string, now: Date): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  const ago =
    s < 90
      ? `${s} s`
      : s < 5400
        ? `${Math.round(s / 60)} min`
        : s < 172_800
          ? `${Math.round(s / 3600)} h`
          : `${Math.round(s / 86_400)} d`;
  return `${ago} ago (${iso})`;
}

/** `foundRevision` → `Found revision`; a few names read better spelled out. */
export function label(key: string): string {
  const known: Record<string, string> = {
    sha256: 'sha256',
    manifestSha256: 'Manifest sha256',
    pid: 'pid',
    url: 'URL',
    http: 'HTTP',
    sql: 'SQL',
    ms: 'Took',
    toRevisionFrom: 'Target revision from',
    writerServices: 'Writer services',
    restoreSource: 'Restore source',
  };
  if (Object.hasOwn(known, key)) return known[key]!;
  // The value says the unit ("2.8 s", "1.4 MiB"): the label need not.
  const words = key
    .replace(/(?<=.)(Ms|Bytes)$/, '')
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : key;
}

/** A scalar in words; the key says whether a number is a duration or a size. */
export function scalar(key: string, v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') {
    if (/^ms$|Ms$|_ms$/.test(key)) return duration(v);
    if (/(Bytes|_bytes)$/.test(key)) return bytes(v);
    return String(v);
  }
  if (typeof v === 'string') {
    // A body an app answered in JSON (its /ready, say) reads as words too.
    const parsed = /^\s*[[{]/.test(v) ? parseJson(v) : undefined;
    return parsed !== undefined && typeof parsed === 'object' && parsed !== null ? oneLine(parsed, key) : v;
  }
  if (typeof v === 'bigint') return v.toString();
  return oneLine(v, key);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Any value on one line, as words: `a: 1; b: x, y` — never JSON. */
export function oneLine(v: unknown, key = '', max = 200): string {
  let text: string;
  if (isScalar(v)) text = scalar(key, v).replace(/\s*\n\s*/g, ' ⏎ ');
  else if (Array.isArray(v)) {
    text =
      v.length === 0
        ? 'none'
        : `${v
            .slice(0, 5)
            .map((x) => oneLine(x, key, max))
            .join(', ')}${v.length > 5 ? `, … ${v.length - 5} more` : ''}`;
  } else {
    const entries = Object.entries(v as Obj).filter(([, x]) => x !== undefined);
    text =
      entries.length === 0
        ? 'none'
        : entries.map(([k, x]) => `${label(k).toLowerCase()}: ${oneLine(x, k, max)}`).join('; ');
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const languageOf = (key: string): 'sql' | 'shell' | 'python' | 'text' =>
  /sql|statement|cleanup/i.test(key)
    ? 'sql'
    : /content|operations|ops$/i.test(key)
      ? 'python'
      : /command|fix|script/i.test(key)
        ? 'shell'
        : 'text';

// --- the generic reading ------------------------------------------------------------------------

/** Keys whose values read better under another title than their name. */
const titles: Record<string, string> = {
  staleLocks: 'Lock keys with no TTL (deleted on approval)',
  rowLocks: 'Sessions holding row locks (ended on approval)',
  stuck: 'Stuck items',
  startupLines: "The worker's start-up lines",
  logLines: 'Log lines',
  operations: 'Operations of the generated revision',
  content: 'The generated migration file',
  statements: 'SQL that will run',
  remove: 'To remove',
  files: 'Files',
};
const titleOf = (key: string) => (Object.hasOwn(titles, key) ? titles[key]! : label(key));

function capped<T>(items: T[]): { items: T[]; note?: string } {
  return items.length > MAX_ROWS
    ? { items: items.slice(0, MAX_ROWS), note: `${items.length - MAX_ROWS} more in the raw JSON.` }
    : { items };
}

function table(title: string, rows: Obj[], note?: string): Section {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const c = capped(rows);
  return {
    kind: 'table',
    title,
    columns: columns.map(label),
    rows: c.items.map((r) => columns.map((k) => oneLine(r[k], k))),
    note: [note, c.note].filter(Boolean).join(' ') || undefined,
  };
}

/** An array in the shape that reads best: a list of words, a table of flat objects, else one line each. */
function arraySection(title: string, key: string, v: unknown[]): Section {
  if (v.every((x) => typeof x === 'string' && x.includes('\n')))
    return { kind: 'code', title, language: languageOf(key), text: (v as string[]).join('\n\n') };
  if (v.every(isScalar)) {
    const c = capped(v);
    return /lines$|output$/i.test(key)
      ? { kind: 'code', title, language: 'text', text: v.map((x) => scalar(key, x)).join('\n') }
      : { kind: 'list', title, items: c.items.map((x) => scalar(key, x)), note: c.note };
  }
  if (v.every(isFlat)) return table(title, v);
  const c = capped(v);
  return { kind: 'list', title, items: c.items.map((x) => oneLine(x, key, 400)), note: c.note };
}

/** An object as facts (its scalars) and further sections (its long texts, arrays, nested objects). */
export function generic(title: string, value: unknown, depth = 0, key = ''): Section[] {
  if (value === undefined) return [];
  if (!isObj(value)) {
    if (Array.isArray(value))
      return value.length ? [arraySection(title, key, value)] : [{ kind: 'list', title, items: [], note: 'None.' }];
    if (typeof value === 'string' && value.includes('\n'))
      return [{ kind: 'code', title, language: languageOf(key), text: value }];
    return [{ kind: 'facts', title, facts: [{ label: 'Value', value: scalar('', value) }] }];
  }
  const facts: Fact[] = [];
  const sections: Section[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const sub = title === 'Details' ? titleOf(k) : `${title} › ${label(k).toLowerCase()}`;
    if (typeof v === 'string' && v.includes('\n'))
      sections.push({ kind: 'code', title: sub, language: languageOf(k), text: v });
    else if (isScalar(v)) facts.push({ label: label(k), value: scalar(k, v) });
    else if (Array.isArray(v)) {
      if (v.length === 0) facts.push({ label: label(k), value: 'none' });
      else if (
        v.every((x) => isScalar(x) && !String(x).includes('\n')) &&
        v.length <= 4 &&
        v.join(', ').length <= 100 &&
        !/lines$/i.test(k)
      )
        facts.push({ label: label(k), value: v.map((x) => scalar(k, x)).join(', ') });
      else sections.push(arraySection(sub, k, v));
    } else if (depth < MAX_DEPTH) {
      const inner = generic(sub, v, depth + 1, k);
      if (inner.length === 0) facts.push({ label: label(k), value: 'none' });
      else sections.push(...inner);
    } else facts.push({ label: label(k), value: oneLine(v, k) });
  }
  return [...(facts.length ? [{ kind: 'facts' as const, title, facts }] : []), ...sections];
}

// --- the known shapes ---------------------------------------------------------------------------

interface SchemaDiffLike {
  same: boolean;
  extra: string[];
  missing: string[];
  reference: string;
  revision?: string;
}
const isSchemaDiff = (v: unknown): v is SchemaDiffLike =>
  isObj(v) && typeof v.same === 'boolean' && Array.isArray(v.extra) && Array.isArray(v.missing);

function schemaDiff(title: string, d: SchemaDiffLike): Section {
  const items = [...strings(d.extra).map((s) => `extra: ${s}`), ...strings(d.missing).map((s) => `missing: ${s}`)];
  const against = d.reference || 'the reference';
  const c = capped(items);
  return {
    kind: 'list',
    title: `${title} (against ${against})`,
    items: c.items,
    note:
      d.same || items.length === 0
        ? `None: identical to ${against}.`
        : [`${d.extra.length} extra (in the database, not in the reference), ${d.missing.length} missing.`, c.note]
            .filter(Boolean)
            .join(' '),
  };
}

interface RehearsalLike {
  plan: string;
  ran: boolean;
  clean: boolean;
  revisionAfter: string[] | null;
  diff?: unknown;
  cleanup: string[];
  notDroppable?: string[];
  migration?: { direction?: string; revision?: string; ok?: boolean; exitCode?: number; output?: string };
  durationMs: number;
  rowsAfter?: Record<string, number>;
}
const isRehearsal = (v: unknown): v is RehearsalLike =>
  isObj(v) && typeof v.plan === 'string' && typeof v.ran === 'boolean' && typeof v.clean === 'boolean';

/** The live database's name, as the run's steps recorded it (the gate's evidence names only clones). */
function liveDatabase(journal: JournalEntry[] | undefined): string | undefined {
  for (const e of journal ?? []) {
    const db = e.inputs?.database;
    if (
      e.kind === 'step' &&
      ['record-settings', 'freeze', 'evidence', 'snapshot'].includes(e.step) &&
      typeof db === 'string'
    )
      return db;
  }
  return undefined;
}

function rehearsal(r: RehearsalLike, ctx: ViewContext): Section[] {
  const out: Section[] = [
    {
      kind: 'facts',
      title: 'Rehearsal on a clone of the data',
      facts: [
        { label: 'Rehearsed', value: r.plan },
        {
          label: 'Ran',
          value: r.ran
            ? 'yes'
            : `NO${r.migration?.exitCode !== undefined ? ` (exit code ${r.migration.exitCode})` : ''}`,
        },
        { label: 'Clean (equals a fresh build)', value: r.clean ? 'yes' : 'NO' },
        { label: 'Took', value: duration(r.durationMs) },
        { label: 'Revision after', value: r.revisionAfter?.length ? r.revisionAfter.join(', ') : 'none' },
      ],
    },
  ];
  if (isSchemaDiff(r.diff) && !r.diff.same) out.push(schemaDiff('Schema differences left on the clone', r.diff));
  if (r.notDroppable?.length)
    out.push({
      kind: 'list',
      title: 'Leftovers that need a person (not dropped automatically)',
      items: r.notDroppable,
    });
  if (r.migration && r.migration.ok === false && r.migration.output)
    out.push({ kind: 'code', title: 'What alembic said on the clone', language: 'text', text: r.migration.output });
  const m = /^(upgrade|downgrade) to (\S+)$/.exec(r.plan);
  const direction = r.migration?.direction ?? m?.[1];
  const revision = r.migration?.revision ?? m?.[2];
  if (r.ran && direction && revision) {
    const live = liveDatabase(ctx.journal);
    out.push({
      kind: 'code',
      title: 'Command that will run on approval',
      language: 'shell',
      note: `On ${live ?? 'the live database'} (DATABASE_URL set by the worker), as rehearsed.`,
      text: `alembic ${direction} ${revision}`,
    });
    if (r.cleanup.length)
      out.push({
        kind: 'code',
        title: 'SQL that will run after it (drops the leftovers)',
        language: 'sql',
        text: r.cleanup.map((s) => `${s};`).join('\n'),
      });
  }
  if (r.rowsAfter && Object.keys(r.rowsAfter).length) {
    const rows = Object.entries(r.rowsAfter).map(([t, n]) => [t, String(n)]);
    const c = capped(rows);
    out.push({
      kind: 'table',
      title: 'Rows on the clone after the rehearsal',
      columns: ['Table', 'Rows'],
      rows: c.items,
      note: c.note,
    });
  }
  return out;
}

interface LostRowsLike {
  table: string;
  rows: number;
  inBackup: boolean;
  newestInLive?: string | null;
  newestInBackup?: string | null;
}
const isLostRows = (v: unknown): v is LostRowsLike[] =>
  Array.isArray(v) &&
  v.every(
    (x) => isObj(x) && typeof x.table === 'string' && typeof x.rows === 'number' && typeof x.inBackup === 'boolean',
  );

function lostRows(title: string, lost: LostRowsLike[]): Section {
  const c = capped(lost);
  return {
    kind: 'table',
    title,
    columns: ['Table', 'Rows lost', 'Newest in the live database', 'Newest in the backup'],
    rows: c.items.map((l) => [
      l.table,
      l.inBackup ? String(l.rows) : `${l.rows} (table not in the backup)`,
      l.newestInLive ?? '—',
      l.newestInBackup ?? '—',
    ]),
    note: lost.length === 0 ? 'None: no table has rows written since.' : c.note,
  };
}

/** A step's evidence in the journal (the last ok one matching), for sizes and times the gate does not carry. */
function stepEvidence(
  ctx: ViewContext,
  step: string,
  match: (ev: Obj) => boolean,
): { ev: Obj; at?: string } | undefined {
  const e = [...(ctx.journal ?? [])]
    .reverse()
    .find((x) => x.kind === 'step' && x.step === step && x.outcome === 'ok' && isObj(x.evidence) && match(x.evidence));
  return e ? { ev: e.evidence as Obj, at: e.endedAt ?? e.startedAt } : undefined;
}

function undoPoint(u: Obj, ctx: ViewContext): Section {
  const now = ctx.now ?? new Date();
  const dump = stepEvidence(ctx, 'dump', (ev) => ev.path === u.dump);
  const snap = stepEvidence(ctx, 'snapshot', (ev) => ev.name === u.snapshot);
  const facts: Fact[] = [];
  if (typeof u.snapshot === 'string')
    facts.push({
      label: 'Snapshot (same server)',
      value: `${u.snapshot}${typeof snap?.ev.sizeBytes === 'number' ? `, ${bytes(snap.ev.sizeBytes)}` : ''}`,
    });
  if (typeof u.dump === 'string') facts.push({ label: 'Dump', value: u.dump });
  if (typeof dump?.ev.totalBytes === 'number') facts.push({ label: 'Dump size', value: bytes(dump.ev.totalBytes) });
  if (typeof u.manifestSha256 === 'string') facts.push({ label: 'Manifest sha256', value: u.manifestSha256 });
  const made = dump?.at ?? snap?.at;
  if (made) facts.push({ label: 'Made', value: age(made, now) });
  const checks = strings(dump?.ev.checks);
  if (checks.length) facts.push({ label: 'Verified', value: checks.join('; ') });
  return { kind: 'facts', title: 'Undo point (backup taken by this run)', facts };
}

/** Where a restore comes from: a backup checked at preflight (size, checksum, age), or one of our snapshots. */
function restoreSource(source: string, ctx: ViewContext, extra: Fact[]): Section {
  const now = ctx.now ?? new Date();
  const facts: Fact[] = [{ label: 'Source', value: source }, ...extra];
  const path = /^backup (.+)$/.exec(source)?.[1];
  const pre = path ? stepEvidence(ctx, 'preflight', (ev) => isObj(ev.backup) && ev.backup.path === path) : undefined;
  const b = pre && isObj(pre.ev.backup) ? pre.ev.backup : undefined;
  if (b) {
    if (typeof b.format === 'string') facts.push({ label: 'Format', value: b.format });
    if (typeof b.totalBytes === 'number') facts.push({ label: 'Size', value: bytes(b.totalBytes) });
    if (typeof b.sha256 === 'string') facts.push({ label: 'sha256', value: b.sha256 });
    const created = isObj(b.manifest) && typeof b.manifest.createdAt === 'string' ? b.manifest.createdAt : undefined;
    facts.push({
      label: 'Age',
      value: created ? age(created, now) : 'unknown (no manifest: a dump made outside the runbooks)',
    });
    if (typeof b.tableCount === 'number') facts.push({ label: 'Tables with data', value: String(b.tableCount) });
    const checks = strings(b.checks);
    if (checks.length) facts.push({ label: 'Verified', value: checks.join('; ') });
  }
  const snapName = /^pre-release snapshot (\S+)$/.exec(source)?.[1];
  const snap = snapName ? stepEvidence(ctx, 'snapshot', (ev) => ev.name === snapName) : undefined;
  if (snap) {
    if (typeof snap.ev.sizeBytes === 'number') facts.push({ label: 'Size', value: bytes(snap.ev.sizeBytes) });
    if (snap.at) facts.push({ label: 'Made', value: age(snap.at, now) });
  }
  return { kind: 'facts', title: 'What the restore puts back', facts };
}

const isCauses = (v: unknown): v is Array<{ cause: string; detail: string }> =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((c) => isObj(c) && typeof c.cause === 'string' && typeof c.detail === 'string');

function causes(list: Array<{ cause: string; detail: string }>, refusal?: unknown): Section {
  return {
    kind: 'list',
    title: 'Diagnosis: causes found',
    items: list.map((c) => `${c.cause}: ${c.detail}`),
    note: typeof refusal === 'string' ? `Not re-enqueueing: ${refusal}` : undefined,
  };
}

const actionWords: Record<string, string> = {
  retry: 'retry the step',
  correct: 'retry with a correction',
  skip: 'skip the step',
  abort: 'reject: abort and undo',
};

function recovery(ev: Obj): Section[] {
  const out: Section[] = [
    {
      kind: 'facts',
      title: 'The failed step',
      facts: [
        { label: 'Step', value: String(ev.step) },
        { label: 'Error', value: String(ev.error) },
        ...(typeof ev.failures === 'number' ? [{ label: 'Failed attempts', value: String(ev.failures) }] : []),
        ...(typeof ev.sameErrorAsLast === 'boolean'
          ? [
              {
                label: 'Same error as the last retry',
                value: ev.sameErrorAsLast ? 'YES: retrying unchanged will fail again' : 'no',
              },
            ]
          : []),
      ],
    },
  ];
  const suggested = strings(ev.suggested);
  if (suggested.length)
    out.push({
      kind: 'list',
      title: 'Proposed, most helpful first',
      items: suggested.map((a) => (Object.hasOwn(actionWords, a) ? actionWords[a]! : a)),
    });
  if (isObj(ev.corrections))
    out.push({
      kind: 'facts',
      title: 'Corrections the step accepts',
      facts: Object.entries(ev.corrections).map(([k, v]) => ({ label: k, value: oneLine(v) })),
    });
  return out;
}

/**
 * The sections for one gate's evidence. The runbook and gate name choose nothing essential today
 * (shapes do); they are here so a gate can get its own wording without changing callers.
 */
export function evidenceView(_runbook: string, gate: string, evidence: unknown, ctx: ViewContext = {}): Section[] {
  if (evidence === undefined || evidence === null) return [];
  if (!isObj(evidence)) return generic('Evidence', evidence);
  if (gate.startsWith('recover:') && typeof evidence.step === 'string' && typeof evidence.error === 'string') {
    const {
      step: _s,
      error: _e,
      failures: _f,
      sameErrorAsLast: _r,
      suggested: _g,
      corrections: _c,
      ...rest
    } = evidence;
    return [...recovery(evidence), ...generic('Details', rest)];
  }
  const out: Section[] = [];
  const rest: Obj = { ...evidence };
  const take = (k: string) => {
    const v = rest[k];
    delete rest[k];
    return v;
  };
  // What is wrong first, then what was tried, what will run, what it costs, what can undo it.
  if (isObj(rest.diagnosis) && isCauses(rest.diagnosis.causes)) {
    const d = take('diagnosis') as Obj;
    out.push(causes(d.causes as Array<{ cause: string; detail: string }>, d.refuseReenqueue));
  }
  if (isCauses(rest.causes)) out.push(causes(take('causes') as Array<{ cause: string; detail: string }>));
  for (const [k, v] of Object.entries(rest)) {
    if (!isSchemaDiff(v)) continue;
    take(k);
    const title = k === 'leftovers' ? 'Schema differences: the live database' : label(k);
    out.push(schemaDiff(title, v));
  }
  if (isRehearsal(rest.rehearsal)) out.push(...rehearsal(take('rehearsal') as RehearsalLike, ctx));
  if (Array.isArray(rest.statements) && rest.statements.every((s) => typeof s === 'string')) {
    out.push({
      kind: 'code',
      title: 'SQL that will run',
      language: 'sql',
      text: (take('statements') as string[]).map((s) => `${s};`).join('\n'),
    });
  }
  for (const [k, v] of Object.entries(rest)) {
    if (!isLostRows(v) || (k !== 'lost' && v.length === 0)) continue;
    take(k);
    out.push(
      lostRows(
        gate === 'rollback'
          ? 'Rows the rollback would lose'
          : gate === 'restore'
            ? 'Rows the restore would lose'
            : label(k),
        v,
      ),
    );
  }
  if (typeof rest.source === 'string' && (gate === 'restore' || /^(backup|pre-release snapshot) /.test(rest.source))) {
    const source = take('source') as string;
    const scratch = typeof rest.scratch === 'string' ? (take('scratch') as string) : undefined;
    out.push(
      restoreSource(
        source,
        ctx,
        scratch ? [{ label: 'Restored into (checked, waiting to be swapped in)', value: scratch }] : [],
      ),
    );
  }
  if (isObj(rest.undoPoint) && (typeof rest.undoPoint.dump === 'string' || typeof rest.undoPoint.snapshot === 'string'))
    out.push(undoPoint(take('undoPoint') as Obj, ctx));
  if (typeof rest.snapshot === 'string' && gate === 'rollback') {
    const name = take('snapshot') as string;
    const revision = take('snapshotRevision');
    const snap = stepEvidence(ctx, 'snapshot', (ev) => ev.name === name);
    out.push({
      kind: 'facts',
      title: 'Snapshot the rollback swaps in',
      facts: [
        { label: 'Snapshot', value: name },
        { label: 'Its revision', value: oneLine(revision) },
        ...(typeof snap?.ev.sizeBytes === 'number' ? [{ label: 'Size', value: bytes(snap.ev.sizeBytes) }] : []),
        ...(snap?.at ? [{ label: 'Made', value: age(snap.at, ctx.now ?? new Date()) }] : []),
      ],
    });
  }
  // The rest in the generic reading: scalars as facts first, then each nested part under its title.
  const scalars = Object.fromEntries(
    Object.entries(rest).filter(
      ([, v]) => isScalar(v) || (Array.isArray(v) && v.every(isScalar) && v.join(', ').length <= 100 && v.length <= 4),
    ),
  );
  const nested = Object.entries(rest).filter(([k]) => !Object.hasOwn(scalars, k));
  const parts = nested.map(([k, v]) => generic(titleOf(k), v, 0, k));
  // An empty part (say, an object with nothing in it) still says so, among the facts.
  nested.forEach(([k], i) => {
    if (parts[i]!.length === 0) scalars[k] = null;
  });
  out.push(...generic('Details', scalars), ...parts.flat());
  return out;
}

/** A run's open gates with their views, as GET /runs/{id} returns them to the console. */
export function withEvidenceViews<
  R extends { runbook: string; pendingGates: Array<{ gate: string; evidence: unknown }>; journal?: JournalEntry[] },
>(run: R, now = new Date()): R & { pendingGates: Array<R['pendingGates'][number] & { view: Section[] }> } {
  return {
    ...run,
    pendingGates: run.pendingGates.map((g) => ({
      ...g,
      view: evidenceView(run.runbook, g.gate, g.evidence, { journal: run.journal, now }),
    })),
  };
}
