import type { EinvoicingEvidence, InvoiceCounts, RetryOutcome } from '../../activities/index.js';
import type { EinvoicingFindings } from './workflow.js';

/** einvoicing-failed's texts: what was not checked, the findings in words, the gate's prompt, the summaries. */

type Cause = EinvoicingFindings['causes'][number];

/** Invoices by state, per table, e.g. "invoices: emitted 3, failed 1; credit_notes: empty". */
export function stateLine(c: InvoiceCounts): string {
  return c.tables
    .map((t) => {
      const states = Object.entries(t.byState)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ');
      return `${t.table}: ${t.present ? states || 'empty' : 'not present'}`;
    })
    .join('; ');
}

/** What the run could not check on this target, and why. */
export function notCheckedOn(
  ei: { certificate?: unknown; environment?: unknown },
  before: Pick<EinvoicingEvidence, 'logFile' | 'counts'>,
): string[] {
  return [
    ...(ei.certificate ? [] : ['The signing certificate: the target declares no einvoicing.certificate.']),
    ...(ei.environment ? [] : ['The provider environment: the target declares no einvoicing.environment.']),
    ...(before.logFile ? [] : ["The app's e-invoicing log lines: the target declares no app.logFile."]),
    ...before.counts.tables.filter((t) => !t.present).map((t) => `${t.table}: not present in the database.`),
  ];
}

/** What was found, in the words every summary and the gate repeat. */
export interface FoundLines {
  causes: string[];
  logs: string[];
  unchecked: string[];
  counts: string;
}

export function foundLines(causes: Cause[], before: EinvoicingEvidence, notChecked: string[]): FoundLines {
  return {
    causes: causes.map((c) => `Cause: ${c.cause}: ${c.detail}`),
    logs: before.logLines.length ? [`The app logged:\n${before.logLines.join('\n')}`] : [],
    unchecked: notChecked.map((n) => `Not checked: ${n}`),
    counts: `By state: ${stateLine(before.counts)}.`,
  };
}

export function healthySummary(l: FoundLines): string[] {
  return [
    'E-invoicing is healthy: nothing failed, the certificate and the environment are right.',
    l.counts,
    ...l.unchecked,
  ];
}

export function nothingToRetrySummary(l: FoundLines): string[] {
  return [
    ...l.causes,
    l.counts,
    'No failed invoice to retry: fix the above before the next emissions fail.',
    ...l.logs,
    ...l.unchecked,
  ];
}

/** The summary when a cause would make every retry fail again (the certificate, the environment …). */
export function cannotFixSummary(l: FoundLines, blocking: Cause[]): string[] {
  return [
    ...l.causes,
    l.counts,
    `Nothing was retried: a retry would fail again until ${blocking.map((c) => c.cause).join(' and ')} is fixed. Then run einvoicing-failed again.`,
    ...l.logs,
    ...l.unchecked,
  ];
}

/** When only the first failed invoices are retried: how many of how many. */
export function firstOf(retried: number, failedTotal: number): string {
  return failedTotal > retried ? ` (the first ${retried} of ${failedTotal}; run again for the rest)` : '';
}

export function dryRunSummary(l: FoundLines, failed: number[], more: string): string[] {
  return [
    'Dry run: nothing was changed.',
    ...l.causes,
    l.counts,
    `Would retry ${failed.length} invoice(s)${more} through the app, one idempotency key each.`,
    ...l.logs,
    ...l.unchecked,
  ];
}

export function retryEmissionPrompt(
  f: { target: string; failedTotal: number; failed: number[]; more: string },
  l: FoundLines,
): string {
  const ids = `${f.failed.slice(0, 20).join(', ')}${f.failed.length > 20 ? ', …' : ''}`;
  return `${f.failedTotal} invoice(s) failed to emit on ${f.target}. ${l.causes.join(' ')} Plan: emit ${f.failed.length} again${f.more} through the app (ids ${ids}), each with its own Idempotency-Key so none is emitted twice; then count again.`;
}

/** The summary after the retry: how many left the failed states, what the app refused and logged. */
export function retriedSummary(
  f: {
    moved: number;
    failed: number[];
    before: InvoiceCounts;
    after: InvoiceCounts;
    retried: RetryOutcome[];
    during: string[];
  },
  l: FoundLines,
): string[] {
  const errors = f.retried.filter((r) => !r.ok);
  const refused = errors
    .slice(0, 5)
    .map((r) => `#${r.id} → ${r.status ?? 'no answer'} ${r.detail}`)
    .join('; ');
  return [
    `${f.moved} of ${f.failed.length} retried invoice(s) left the failed states; ${f.after.failedTotal} still failed.`,
    `Before: ${stateLine(f.before)}. After: ${stateLine(f.after)}.`,
    ...(errors.length ? [`The app refused ${errors.length}: ${refused}${errors.length > 5 ? '; …' : ''}.`] : []),
    ...(f.during.length ? [`The app logged during the retry:\n${f.during.join('\n')}`] : []),
    ...l.causes,
    ...l.logs,
    ...l.unchecked,
  ];
}
