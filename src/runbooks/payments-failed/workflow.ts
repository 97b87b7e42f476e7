import { ApplicationFailure } from '@temporalio/workflow';
import type { PaymentsEvidence, RedriveOutcome } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import {
  dryRunSummary,
  foundLines,
  healthySummary,
  notCheckedOn,
  nothingToRedriveSummary,
  redriveGate,
  redrivenSummary,
} from './texts.js';

/**
 * Seed 003 "Pagos fallidos (Stripe/Payphone/Kushki)". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export type PaymentCause =
  | 'mode-mismatch'
  | 'secret-missing'
  | 'webhook-unreachable'
  | 'webhook-rejects-signed'
  | 'webhook-accepts-unsigned'
  | 'failed-events';

export interface PaymentsFindings {
  outcome: 'healthy' | 'fixed' | 'partly-fixed' | 'not-fixed' | 'findings-only' | 'cannot-fix' | 'dry-run';
  before: PaymentsEvidence;
  causes: Array<{ cause: PaymentCause; provider?: string; detail: string }>;
  redriven?: RedriveOutcome[];
  after?: PaymentsEvidence['events'];
  notChecked: string[];
}

const ok2xx = (s: number | null) => s !== null && s >= 200 && s < 300;

/** What is wrong, per provider, from the evidence. Pure. */
export function diagnosePayments(e: PaymentsEvidence): PaymentsFindings['causes'] {
  const out: PaymentsFindings['causes'] = [];
  for (const p of e.providers) {
    const add = (cause: PaymentCause, detail: string) =>
      out.push({ cause, provider: p.name, detail: `${p.name}: ${detail}` });
    if (p.mode && p.mode.actual !== p.mode.expected)
      add(
        'mode-mismatch',
        `the app runs it in ${p.mode.actual ?? 'an unknown mode'} (${p.mode.source}), but this environment expects ${p.mode.expected}: payments go to the wrong account or are refused.`,
      );
    if (!p.secretSet)
      add(
        'secret-missing',
        "its webhook signing secret is not set on the worker: correctly signed events cannot be sent or re-driven. Set it in the worker's environment.",
      );
    const err = p.badlySigned?.error ?? p.signed?.error;
    if (err) add('webhook-unreachable', `${p.url} does not answer (${err.kind}: ${err.detail}).`);
    else {
      if (p.signed && !ok2xx(p.signed.status))
        add(
          'webhook-rejects-signed',
          `${p.url} answers ${p.signed.status} to a correctly signed test event (${p.signed.body}): the app's signing secret differs from the provider's (rotated?) or the endpoint is wrong — the provider's deliveries fail the same way.`,
        );
      if (p.badlySigned && ok2xx(p.badlySigned.status))
        add(
          'webhook-accepts-unsigned',
          `${p.url} answers ${p.badlySigned.status} to an event signed with a wrong secret: it does not verify signatures, so anyone can mark payments paid. Turn verification on.`,
        );
    }
  }
  if (e.events.failedTotal > 0)
    out.push({
      cause: 'failed-events',
      detail: `${e.events.failedTotal} webhook event(s) failed in the app (${[...new Set(e.events.failed.map((f) => f.provider))].join(', ')}).`,
    });
  return out;
}

/** Providers whose events may be re-driven: the signed test event passes and the mode is right. Pure. */
export function redrivable(e: PaymentsEvidence): Set<string> {
  return new Set(
    e.providers
      .filter((p) => p.secretSet && ok2xx(p.signed?.status ?? null) && (!p.mode || p.mode.actual === p.mode.expected))
      .map((p) => p.name),
  );
}

export async function paymentsFailed(input: RunbookInput): Promise<RunbookResult<PaymentsFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    if (!target.payments)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no payments section: add payments.providers to the targets file.`,
        'TargetConfigError',
      );
    const host = hostActivitiesFor(input, target);
    const before = await rb.step('inspect', () => host.paymentsInspect(input.target), {
      inputs: { providers: target.payments.providers.map((p) => p.name) },
    });
    const causes = diagnosePayments(before);
    const notChecked = notCheckedOn(before);
    const f = (outcome: PaymentsFindings['outcome'], more: Partial<PaymentsFindings> = {}): PaymentsFindings => ({
      outcome,
      before,
      causes,
      notChecked,
      ...more,
    });
    const end = (healthy: boolean, summary: string[], findings: PaymentsFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings,
    });
    const can = redrivable(before);
    const ids = before.events.failed.filter((ev) => can.has(ev.provider)).map((ev) => ev.id);
    const held = before.events.failed.filter((ev) => !can.has(ev.provider));
    const lines = foundLines(causes, before, notChecked, held);
    if (causes.length === 0) return end(true, healthySummary(lines), f('healthy'));
    const failedTotal = before.events.failedTotal;
    if (ids.length === 0)
      return end(false, nothingToRedriveSummary(lines, failedTotal), f(failedTotal ? 'cannot-fix' : 'findings-only'));
    if (input.dryRun) return end(false, dryRunSummary(lines, ids), f('dry-run'));

    await rb.lockTarget();
    await rb.gate('redrive', redriveGate({ target: input.target, before, ids }, lines));
    // In batches: each step is short and bounded, and a retried step re-sends one batch at most.
    const redriven: RedriveOutcome[] = [];
    for (let i = 0; i < ids.length; i += 20) {
      const batch = ids.slice(i, i + 20);
      redriven.push(
        ...(await rb.step('redrive-events', () => host.paymentsRedrive(input.target, batch), {
          inputs: { events: batch.length, from: batch[0] },
        })),
      );
    }
    const after = await rb.step('verify', () => act.paymentsFailedEvents(input.target, ids));
    const still = new Set(after.failed.map((e) => e.id));
    const done = ids.filter((id) => !still.has(id)).length;
    const outcome = done === ids.length ? 'fixed' : done > 0 ? 'partly-fixed' : 'not-fixed';
    const otherCauses = causes.filter((c) => c.cause !== 'failed-events');
    const healthy = outcome === 'fixed' && after.failedTotal === 0 && otherCauses.length === 0;
    const summary = redrivenSummary({ done, ids, failedTotal: after.failedTotal, redriven }, lines);
    return end(healthy, summary, f(outcome, { redriven, after }));
  });
}
