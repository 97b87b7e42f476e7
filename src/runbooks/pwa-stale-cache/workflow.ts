import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type { PwaEvidence } from '../../activities/index.js';
import { parseDuration } from '../../util/duration.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { PwaInput } from './definition.js';
import {
  causeLines,
  dryRunSummary,
  headersOnlySummary,
  healthySummary,
  noRedeploySummary,
  redeployedSummary,
  redeployPrompt,
  servedLine,
  unreachableSummary,
} from './texts.js';

/**
 * Seed 003 "Caché PWA / Service Worker". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export type PwaCause =
  | 'stale-build'
  | 'no-version'
  | 'wrong-base-path'
  | 'missing-assets'
  | 'cached-index'
  | 'cached-service-worker'
  | 'unreachable';

export interface PwaFindings {
  outcome: 'healthy' | 'fixed' | 'not-fixed' | 'findings-only' | 'cannot-fix' | 'dry-run';
  expectedVersion: string | null;
  before: PwaEvidence;
  causes: Array<{ cause: PwaCause; detail: string }>;
  redeploy?: { exitCode: number | null; ms: number; output: string };
  after?: PwaEvidence;
  /** What this runbook cannot fix and a person must (server headers). */
  remaining: string[];
}

/** What is wrong with the PWA as served. Pure. */
export function diagnosePwa(e: PwaEvidence, expected: string | null): PwaFindings['causes'] {
  const causes: PwaFindings['causes'] = [];
  if (e.index.error || e.index.status === null) {
    causes.push({
      cause: 'unreachable',
      detail: `${e.base} does not answer (${e.index.error?.kind}: ${e.index.error?.detail}).`,
    });
    return causes;
  }
  if (e.version.value === null)
    causes.push({
      cause: 'no-version',
      detail: `${e.version.url} answers ${e.version.status ?? e.version.error?.kind}: the build served does not say its version.`,
    });
  else if (expected !== null && e.version.value !== expected)
    causes.push({ cause: 'stale-build', detail: `The build served is ${e.version.value}, not ${expected}.` });
  const outside = e.assets.filter((a) => !a.underBase);
  if (outside.length)
    causes.push({
      cause: 'wrong-base-path',
      detail: `index.html references ${outside.map((a) => a.ref).join(', ')}, outside ${new URL(e.base).pathname}: the build was made with another VITE_BASE_PATH.`,
    });
  const missing = e.assets.filter((a) => a.underBase && a.status !== 200);
  if (missing.length)
    causes.push({
      cause: 'missing-assets',
      detail: `Assets index.html references do not answer 200: ${missing.map((a) => `${a.ref} → ${a.status ?? 'no answer'}`).join(', ')}.`,
    });
  if (!e.index.revalidated)
    causes.push({
      cause: 'cached-index',
      detail: `index.html is served with Cache-Control: ${e.index.cacheControl ?? '(none: browsers cache it heuristically)'}; browsers keep the old build. Serve it with "Cache-Control: no-cache".`,
    });
  if (e.serviceWorker.status === 200 && !e.serviceWorker.revalidated)
    causes.push({
      cause: 'cached-service-worker',
      detail: `${e.serviceWorker.url} is served with Cache-Control: ${e.serviceWorker.cacheControl ?? '(none)'}; the browser may not see a new service worker. Serve it with "Cache-Control: no-cache".`,
    });
  return causes;
}

const FIXED_BY_REDEPLOY: PwaCause[] = ['stale-build', 'no-version', 'wrong-base-path', 'missing-assets'];

export async function pwaStaleCache(input: PwaInput): Promise<RunbookResult<PwaFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    if (!target.pwa)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no pwa section: add pwa.basePath, pwa.expectedVersion and pwa.redeploy to the targets file.`,
        'TargetConfigError',
      );
    const expected = input.expectedVersion ?? target.pwa.expectedVersion ?? null;
    const before = await rb.step('inspect', () => act.pwaInspect(input.target), {
      inputs: { expectedVersion: expected, basePath: target.pwa.basePath },
    });
    const causes = diagnosePwa(before, expected);
    const headerFixes = causes
      .filter((c) => !FIXED_BY_REDEPLOY.includes(c.cause) && c.cause !== 'unreachable')
      .map((c) => c.detail);
    const f = (outcome: PwaFindings['outcome'], more: Partial<PwaFindings> = {}): PwaFindings => ({
      outcome,
      expectedVersion: expected,
      before,
      causes,
      remaining: headerFixes,
      ...more,
    });
    const end = (healthy: boolean, summary: string[], findings: PwaFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings,
    });
    const lines = causeLines(causes);
    const served = servedLine(before, expected);
    const { basePath } = target.pwa;
    if (causes.length === 0) return end(true, healthySummary(served, expected), f('healthy'));
    if (causes.some((c) => c.cause === 'unreachable')) return end(false, unreachableSummary(lines), f('cannot-fix'));
    const redeploy = causes.some((c) => FIXED_BY_REDEPLOY.includes(c.cause));
    if (!redeploy) return end(false, headersOnlySummary(lines, served), f('findings-only'));
    if (!target.pwa.canRedeploy) return end(false, noRedeploySummary(lines, served), f('cannot-fix'));
    if (input.dryRun) return end(false, dryRunSummary(lines, served, basePath, expected), f('dry-run'));

    await rb.lockTarget();
    const prompt = redeployPrompt(input.target, lines, basePath, expected);
    await rb.gate('redeploy', { prompt, evidence: { before, causes } });
    const done = await rb.step('redeploy-build', () => hostActivitiesFor(input, target).pwaRedeploy(input.target), {
      inputs: { basePath: target.pwa.basePath },
    });
    const deadline = Date.now() + parseDuration(input.verifyDeadline ?? '2m');
    const after = await rb.step(
      'verify-version',
      async () => {
        for (;;) {
          const e = await act.pwaInspect(input.target);
          const left = diagnosePwa(e, expected).filter(
            (c) => FIXED_BY_REDEPLOY.includes(c.cause) || c.cause === 'unreachable',
          );
          if (
            (left.length === 0 && (expected !== null || e.version.value !== before.version.value)) ||
            Date.now() > deadline
          )
            return e;
          await sleep('3s');
        }
      },
      { inputs: { deadline: input.verifyDeadline ?? '2m' } },
    );
    const still = diagnosePwa(after, expected);
    const fixed = !still.some((c) => FIXED_BY_REDEPLOY.includes(c.cause) || c.cause === 'unreachable');
    const remaining = still.filter((c) => !FIXED_BY_REDEPLOY.includes(c.cause)).map((c) => c.detail);
    const summary = redeployedSummary({ fixed, after, still, remaining }, lines);
    return end(
      fixed && remaining.length === 0,
      summary,
      f(fixed ? 'fixed' : 'not-fixed', { redeploy: done, after, remaining }),
    );
  });
}
