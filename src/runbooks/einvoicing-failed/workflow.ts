import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { EinvoicingEvidence, InvoiceCounts, RetryOutcome } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import {
  cannotFixSummary,
  dryRunSummary,
  firstOf,
  foundLines,
  healthySummary,
  nothingToRetrySummary,
  notCheckedOn,
  retriedSummary,
  retryEmissionPrompt,
} from './texts.js';

/**
 * Seed 003 "Facturación electrónica fallida". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export type EinvoiceCause =
  | 'certificate-unreadable'
  | 'certificate-expired'
  | 'certificate-expiring'
  | 'certificate-key'
  | 'wrong-environment'
  | 'failed-invoices';

export interface EinvoicingFindings {
  outcome: 'healthy' | 'fixed' | 'partly-fixed' | 'not-fixed' | 'findings-only' | 'cannot-fix' | 'dry-run';
  before: EinvoicingEvidence;
  causes: Array<{ cause: EinvoiceCause; detail: string }>;
  retried?: RetryOutcome[];
  after?: InvoiceCounts;
  notChecked: string[];
}

const BATCH = 20;

/** Causes that make a retry fail again: fix them first. */
const BLOCKING: EinvoiceCause[] = [
  'certificate-unreadable',
  'certificate-expired',
  'certificate-key',
  'wrong-environment',
];

/** What is wrong, from the evidence. Pure. */
export function diagnoseEinvoicing(e: EinvoicingEvidence, minDaysLeft: number): EinvoicingFindings['causes'] {
  const out: EinvoicingFindings['causes'] = [];
  const c = e.certificate;
  if (c?.error)
    out.push({ cause: 'certificate-unreadable', detail: `The signing certificate cannot be used: ${c.error}.` });
  else if (c) {
    if (c.daysLeft !== null && c.daysLeft < 0)
      out.push({
        cause: 'certificate-expired',
        detail: `The signing certificate (${c.subject}, serial ${c.serial}) expired on ${c.validTo}: the provider rejects what it signs. Renew it with the issuer and install the new .p12.`,
      });
    else if (c.daysLeft !== null && c.daysLeft < minDaysLeft)
      out.push({
        cause: 'certificate-expiring',
        detail: `The signing certificate (${c.subject}) expires in ${c.daysLeft} day(s), on ${c.validTo}: renew it now.`,
      });
    if (c.keyMatches === false)
      out.push({
        cause: 'certificate-key',
        detail: `The private key in ${c.file} is not the certificate's: the signatures do not verify.`,
      });
    if (c.keyMatches === null)
      out.push({ cause: 'certificate-key', detail: `${c.file} holds no private key: nothing can be signed with it.` });
  }
  const env = e.environment;
  if (env && env.value !== env.expected)
    out.push({
      cause: 'wrong-environment',
      detail: `The app uses ${env.variable}=${env.value ?? '(unset)'} (in ${env.envFile}), but this target expects ${env.expected}: emissions go to the wrong provider environment.`,
    });
  if (e.counts.failedTotal > 0)
    out.push({
      cause: 'failed-invoices',
      detail: `${e.counts.failedTotal} invoice(s) in ${e.counts.tables[0]!.table} failed to emit (${Object.entries(
        e.counts.tables[0]!.byState,
      )
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ')}).`,
    });
  for (const t of e.counts.tables.slice(1).filter((x) => x.present)) {
    const n = e.failedStates.reduce((sum, st) => sum + (t.byState[st] ?? 0), 0);
    if (n > 0)
      out.push({
        cause: 'failed-invoices',
        detail: `${n} row(s) of ${t.table} are in a failed state (${Object.entries(t.byState)
          .map(([s, c]) => `${s}: ${c}`)
          .join(
            ', ',
          )}): counted, not retried by this runbook (the app's retry endpoint takes ${e.counts.tables[0]!.table} ids).`,
      });
  }
  return out;
}

export async function einvoicingFailed(input: RunbookInput): Promise<RunbookResult<EinvoicingFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const ei = target.einvoicing;
    if (!ei)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no einvoicing section: add einvoicing (certificate, environment, tables) to the targets file.`,
        'TargetConfigError',
      );
    const host = hostActivitiesFor(input, target);
    const before = await rb.step('inspect', () => host.einvoiceInspect(input.target), {
      inputs: { tables: ei.tables, failedStates: ei.failedStates },
    });
    const causes = diagnoseEinvoicing(before, ei.minDaysLeft);
    const notChecked = notCheckedOn(ei, before);
    const f = (outcome: EinvoicingFindings['outcome'], more: Partial<EinvoicingFindings> = {}): EinvoicingFindings => ({
      outcome,
      before,
      causes,
      notChecked,
      ...more,
    });
    const end = (healthy: boolean, summary: string[], findings: EinvoicingFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings,
    });
    const lines = foundLines(causes, before, notChecked);
    if (causes.length === 0) return end(true, healthySummary(lines), f('healthy'));
    const blocking = causes.filter((c) => BLOCKING.includes(c.cause));
    const failed = before.counts.failedIds;
    if (failed.length === 0) return end(false, nothingToRetrySummary(lines), f('findings-only'));
    if (blocking.length) return end(false, cannotFixSummary(lines, blocking), f('cannot-fix'));
    const more = firstOf(failed.length, before.counts.failedTotal);
    if (input.dryRun) return end(false, dryRunSummary(lines, failed, more), f('dry-run'));

    await rb.lockTarget();
    const failedTotal = before.counts.failedTotal;
    await rb.gate('retry-emission', {
      prompt: retryEmissionPrompt({ target: input.target, failedTotal, failed, more }, lines),
      evidence: {
        counts: before.counts,
        certificate: before.certificate,
        environment: before.environment,
        logLines: before.logLines,
      },
    });
    const keyPrefix = `rb-${workflowInfo().workflowId}`;
    // In batches: each step is short and bounded, and a retried step re-sends one batch at most.
    const retried: RetryOutcome[] = [];
    const during: string[] = [];
    for (let i = 0; i < failed.length; i += BATCH) {
      const batch = failed.slice(i, i + BATCH);
      const done = await rb.step('retry', () => host.einvoiceRetry(input.target, batch, keyPrefix), {
        inputs: { invoices: batch.length, from: batch[0], keyPrefix },
      });
      retried.push(...done.outcomes);
      during.push(...done.logLines);
    }
    const after = await rb.step('verify', () => act.einvoiceCounts(input.target));
    const stillFailed = new Set(after.failedIds);
    const moved = failed.filter((id) => !stillFailed.has(id)).length;
    const outcome = moved === failed.length ? 'fixed' : moved > 0 ? 'partly-fixed' : 'not-fixed';
    const summary = retriedSummary({ moved, failed, before: before.counts, after, retried, during }, lines);
    return end(outcome === 'fixed' && after.failedTotal === 0, summary, f(outcome, { retried, after }));
  });
}
