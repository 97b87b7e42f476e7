import { ApplicationFailure } from '@temporalio/workflow';
import type { MetricsEvidence, HttpProbe, RequestTrace } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import { reportScheduledFinding } from '../../engine/scheduled-check.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';

/**
 * Seed 003 "Observabilidad". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface ObservabilityFindings {
  ready: HttpProbe;
  metrics: MetricsEvidence;
  requestId: RequestTrace;
  /** What could not be checked on this target, and why. */
  notChecked: string[];
}

/** The verdict and its lines. Pure. */
export function judgeObservability(f: Omit<ObservabilityFindings, 'notChecked'>): {
  healthy: boolean;
  lines: string[];
  notChecked: string[];
} {
  const lines: string[] = [];
  const notChecked: string[] = [];
  let healthy = true;
  const r = f.ready;
  if (r.error) {
    healthy = false;
    lines.push(`/ready: no answer (${r.error.kind}: ${r.error.detail}). Run connection-refused for this target.`);
  } else if (r.status !== null && r.status >= 200 && r.status < 300) {
    lines.push(`${r.path}: ${r.status} in ${r.ms} ms.`);
  } else {
    healthy = false;
    lines.push(`${r.path}: ${r.status} (not ready): ${r.body.split('\n')[0]}`);
  }
  const m = f.metrics;
  if (m.http.status !== 200) {
    healthy = false;
    lines.push(
      `${m.http.path}: ${m.http.error ? `no answer (${m.http.error.kind})` : `status ${m.http.status}`}: no metrics can be read, so no alert on them can fire.`,
    );
  } else if (m.missing.length) {
    healthy = false;
    lines.push(
      `${m.http.path}: ${m.families} families; missing key metric(s): ${m.missing.join(', ')} — alerts on them can never fire. Expose them in the app (or map their names in app.metricNames).`,
    );
  } else {
    lines.push(
      `${m.http.path}: all ${m.keyMetrics.length} key metrics exposed (${m.keyMetrics.map((k) => `${k.family}=${k.total ?? '?'}`).join(', ')}).`,
    );
  }
  const t = f.requestId;
  if (t.line) {
    lines.push(
      `Request id ${t.requestId}: ${t.echoed ? 'echoed in the response and ' : 'not echoed in the response, but '}found in the logs (${t.source}).`,
    );
    if (!t.echoed) healthy = false;
  } else if (t.source === null) {
    notChecked.push(`request id in the logs: ${t.detail}`);
    lines.push(
      `Request id ${t.requestId}: ${t.echoed ? 'echoed in the response' : 'NOT echoed in the response'}; logs not checked (${t.detail}).`,
    );
    if (!t.echoed) healthy = false;
  } else {
    healthy = false;
    lines.push(
      `Request id ${t.requestId}: ${t.echoed ? 'echoed' : 'not echoed'}; ${t.detail}. Without it the logs cannot be filtered by request_id.`,
    );
  }
  return { healthy, lines, notChecked };
}

export async function observabilityCheck(input: RunbookInput): Promise<RunbookResult<ObservabilityFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    if (!target.app)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no app section: add app.url (and app.logFile or app.service for the request-id check) to the targets file.`,
        'TargetConfigError',
      );
    const ready = await rb.step('ready', () => act.appGet(input.target), { inputs: { url: target.app?.url ?? null } });
    const metrics = await rb.step('metrics', () => act.appMetrics(input.target));
    const requestId = await rb.step('request-id', () => hostActivitiesFor(input, target).appRequestTrace(input.target));
    const verdict = judgeObservability({ ready, metrics, requestId });
    const result = {
      runbook: rb.name,
      target: input.target,
      healthy: verdict.healthy,
      summary: [...verdict.lines, ...verdict.notChecked.map((n) => `Not checked: ${n}.`)],
      findings: { ready, metrics, requestId, notChecked: verdict.notChecked },
    };
    await reportScheduledFinding(rb, input, result);
    return result;
  });
}
