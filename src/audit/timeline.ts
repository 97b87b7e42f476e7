import type { temporal } from '@temporalio/proto';
import type { RunView } from '../client.js';
import { viewMarkdown } from '../evidence/text.js';
import { evidenceView, oneLine } from '../evidence/view.js';
import type { JournalEntry } from '../contract/types.js';

/** A run as an incident record: the journal, every decision, and what Temporal itself recorded. */

export interface TimelineMessage {
  at: string;
  kind: 'signal' | 'update';
  name: string;
  /** The sender identity Temporal recorded: whatever the client said, not an authenticated user. */
  identity: string;
}

export interface Timeline {
  run: Omit<RunView, 'journal' | 'pendingGates'>;
  entries: JournalEntry[];
  messages: TimelineMessage[];
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function eventTime(e: HistoryEvent): string {
  const t = e.eventTime;
  return new Date(Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6)).toISOString();
}

export function messagesFrom(events: HistoryEvent[]): TimelineMessage[] {
  const out: TimelineMessage[] = [];
  for (const e of events) {
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal)
      out.push({
        at: eventTime(e),
        kind: 'signal',
        name: signal.signalName ?? '?',
        identity: signal.identity || '(none)',
      });
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    if (update)
      out.push({
        at: eventTime(e),
        kind: 'update',
        name: update.input?.name ?? '?',
        identity: update.meta?.identity || '(none)',
      });
  }
  return out;
}

export function buildTimeline(view: RunView, events: HistoryEvent[]): Timeline {
  const { journal, pendingGates: _pending, ...run } = view;
  return { run, entries: journal ?? [], messages: messagesFrom(events) };
}

const hhmmss = (iso?: string) => (iso ? iso.slice(11, 19) : '');
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function detail(e: JournalEntry): string {
  if (e.error) return e.error;
  if (e.comment) return e.comment;
  const ev = e.evidence as { summary?: unknown } | undefined;
  if (e.kind === 'gate')
    return `plan ${String((e.inputs as { planDigest?: string } | undefined)?.planDigest ?? '')}: ${String((e.inputs as { prompt?: string } | undefined)?.prompt ?? '')}`;
  if (ev === undefined) return '';
  return oneLine(ev, '', 160);
}

/** Each gate's evidence as the approver saw it (the same view as the console's), under the steps. */
function gateEvidence(t: Timeline): string[] {
  const gates = t.entries.filter((e) => e.kind === 'gate');
  if (gates.length === 0) return [];
  const lines = ['', '## Evidence at the gates'];
  for (const g of gates) {
    const upTo = t.entries.slice(0, t.entries.indexOf(g) + 1);
    lines.push(
      '',
      `### ${g.step} (opened ${g.startedAt}, ${g.outcome})`,
      '',
      ...viewMarkdown(evidenceView(t.run.runbook, g.step, g.evidence, { journal: upTo, now: new Date(g.startedAt) })),
    );
  }
  return lines;
}

/** Markdown for the incident ticket (the seeds ask for changes, timestamps and the root cause). */
export function renderMarkdown(t: Timeline): string {
  const r = t.run;
  const lines = [
    `# Incident timeline: ${r.runbook} on ${r.target}`,
    '',
    `- Run: \`${r.id}\` — [Temporal UI](${r.uiUrl})`,
    `- Status: **${r.status}** (phase ${r.phase})`,
    `- Started by ${r.initiator} at ${r.startedAt}${r.closedAt ? `; ended ${r.closedAt}` : ''}`,
  ];
  if (r.error) lines.push(`- Outcome: ${r.error}`);
  const summary = (r.result as { summary?: string[] } | undefined)?.summary;
  if (summary?.length) lines.push('', '## Findings', '', ...summary.map((s) => `- ${s}`));
  lines.push(
    '',
    '## Steps (UTC)',
    '',
    '| started | ended | step | kind | actor | outcome | details |',
    '|---|---|---|---|---|---|---|',
  );
  for (const e of t.entries) {
    const via = e.channel ? ` (${e.channel.via}${e.channel.signed ? ', signed' : ', unsigned'})` : '';
    lines.push(
      `| ${hhmmss(e.startedAt)} | ${hhmmss(e.endedAt)} | ${cell(e.step)} | ${e.kind} | ${cell(e.actor)}${via} | ${e.outcome} | ${cell(detail(e))} |`,
    );
  }
  lines.push(...gateEvidence(t));
  const decisions = t.entries.filter((e) => e.kind === 'decision' || e.kind === 'refusal' || e.kind === 'abort');
  if (decisions.length) {
    lines.push('', '## Decisions', '');
    for (const d of decisions) {
      const verb =
        d.kind === 'refusal'
          ? `was refused at ${d.step}: ${d.error}`
          : d.kind === 'abort'
            ? `aborted the run: ${d.comment}`
            : `${d.outcome} gate ${d.step}${d.comment ? `: "${d.comment}"` : ''}`;
      lines.push(
        `- ${d.startedAt} — ${d.actor} ${verb}${d.channel ? ` (${d.channel.via}, ${d.channel.signed ? 'signed by the API' : 'unsigned'})` : ''}`,
      );
    }
  }
  if (t.messages.length) {
    lines.push(
      '',
      '## Messages as Temporal recorded them',
      '',
      'Sender identities are what each client declared; signed decisions are the authenticated ones.',
      '',
    );
    for (const m of t.messages) lines.push(`- ${m.at} — ${m.kind} \`${m.name}\` from identity \`${m.identity}\``);
  }
  const undo = undoPoints(t.entries);
  if (undo.length) lines.push('', '## Undo points, backups and kept databases', '', ...undo.map((u) => `- ${u}`));
  const rootCause = (r.result as { findings?: { rootCause?: { by: string; note: string } } } | undefined)?.findings
    ?.rootCause;
  lines.push(
    '',
    '## Root cause',
    '',
    rootCause
      ? `${rootCause.note} — ${rootCause.by}`
      : '_To be written by the incident owner: what failed, why, and the permanent fix._',
    '',
  );
  return lines.join('\n');
}

/** What an auditor asks first of a database repair: which snapshot and which backup (checksum), and what was kept. */
export function undoPoints(entries: JournalEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.outcome !== 'ok') continue;
    const ev = e.evidence as Record<string, unknown> | null | undefined;
    if (!ev || typeof ev !== 'object') continue;
    if (e.step === 'snapshot' && typeof ev.name === 'string')
      out.push(
        `${e.endedAt ?? e.startedAt} — snapshot \`${ev.name}\` of the live database at revision ${JSON.stringify(ev.revision ?? null)} (${String(ev.sizeBytes)} bytes, same server)`,
      );
    if (e.step === 'dump' && typeof ev.path === 'string')
      out.push(
        `${e.endedAt ?? e.startedAt} — dump \`${ev.path}\` (${String(ev.totalBytes)} bytes), manifest sha256 \`${String(ev.manifestSha256)}\`, verified: ${(ev.checks as string[] | undefined)?.join('; ') ?? 'yes'}`,
      );
    if (typeof ev.keptAs === 'string')
      out.push(
        `${e.endedAt ?? e.startedAt} — ${e.step}: the database that was live is kept as \`${ev.keptAs}\`; settings re-applied and proved as ${JSON.stringify((ev.proof as { role?: string } | undefined)?.role ?? null)}`,
      );
  }
  return out;
}
