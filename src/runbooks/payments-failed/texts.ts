import type { PaymentsEvidence, RedriveOutcome } from '../../activities/index.js';
import type { PaymentsFindings } from './workflow.js';

/** payments-failed's texts: what was not checked, the findings in words, the redrive gate, the summaries. */

type Cause = PaymentsFindings['causes'][number];
type FailedEvent = PaymentsEvidence['events']['failed'][number];

/** What the run could not check on this target, and why. */
export function notCheckedOn(before: PaymentsEvidence): string[] {
  return [
    ...before.providers
      .filter((p) => !p.mode)
      .map((p) => `${p.name}'s mode: the target declares no mode (expected, envFile, variable).`),
    ...(before.events.present ? [] : ["Failed webhook events: the app's events table is not in the database."]),
    ...(before.attempts.length ? [] : ['Attempts by provider: the attempts table is missing or empty.']),
  ];
}

/** What was found, in the words every summary and the gate repeat. */
export interface FoundLines {
  causes: string[];
  attempts: string;
  unchecked: string[];
  /** The failed events held back (their provider's webhook or mode is wrong), in one line or none. */
  held: string[];
}

export function foundLines(
  causes: Cause[],
  before: PaymentsEvidence,
  notChecked: string[],
  held: FailedEvent[],
): FoundLines {
  const providers = [...new Set(held.map((h) => h.provider))].join(', ');
  return {
    causes: causes.map((c) => `Cause: ${c.cause}: ${c.detail}`),
    attempts: `Attempts: ${before.attempts.map((a) => `${a.provider} ${a.status} ${a.n}`).join(', ') || 'none'}.`,
    unchecked: notChecked.map((n) => `Not checked: ${n}`),
    held: held.length
      ? [
          `Not re-driven: ${held.length} event(s) of ${providers}, whose webhook or mode is wrong (above): fix that first, then run payments-failed again.`,
        ]
      : [],
  };
}

export function healthySummary(l: FoundLines): string[] {
  return [
    "Payments are healthy: each provider's mode is right, its webhook takes a signed event and refuses a badly signed one, no webhook event failed.",
    l.attempts,
    ...l.unchecked,
  ];
}

/** The summary when no failed event may be re-driven: held back, or none failed. */
export function nothingToRedriveSummary(l: FoundLines, failedTotal: number): string[] {
  return [
    ...l.causes,
    l.attempts,
    ...l.held,
    failedTotal ? 'Nothing was re-driven.' : 'No failed webhook event to re-drive: the causes above are for a person.',
    ...l.unchecked,
  ];
}

export function dryRunSummary(l: FoundLines, ids: string[]): string[] {
  return [
    'Dry run: nothing was changed.',
    ...l.causes,
    l.attempts,
    `Would re-drive ${ids.length} event(s), each signed as its provider does; the app keys them by event id.`,
    ...l.held,
    ...l.unchecked,
  ];
}

export function redriveGate(f: { target: string; before: PaymentsEvidence; ids: string[] }, l: FoundLines) {
  const { before, ids } = f;
  const sample = `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''}`;
  return {
    prompt: `${before.events.failedTotal} payment webhook event(s) failed on ${f.target}. ${l.causes.join(' ')} Plan: send ${ids.length} again to their webhook endpoints (${sample}), signed as the provider does; the app keys them by event id, so none is applied twice.${l.held.length ? ` ${l.held[0]}` : ''}`,
    evidence: {
      events: before.events,
      attempts: before.attempts,
      providers: before.providers.map((p) => ({
        name: p.name,
        signed: p.signed?.status ?? null,
        badlySigned: p.badlySigned?.status ?? null,
        mode: p.mode,
      })),
    },
  };
}

/** The summary after the re-drive: how many were processed, what the app refused. */
export function redrivenSummary(
  f: { done: number; ids: string[]; failedTotal: number; redriven: RedriveOutcome[] },
  l: FoundLines,
): string[] {
  const refused = f.redriven.filter((r) => !r.ok);
  const sample = refused
    .slice(0, 5)
    .map((r) => `${r.id} → ${r.status ?? 'no answer'} ${r.detail}`)
    .join('; ');
  return [
    `${f.done} of ${f.ids.length} re-driven event(s) were processed; ${f.failedTotal} failed event(s) left.`,
    ...(refused.length ? [`The app refused ${refused.length}: ${sample}.`] : []),
    ...l.held,
    ...l.causes,
    l.attempts,
    ...l.unchecked,
  ];
}
