import { metricMeter } from '@temporalio/workflow';

/**
 * What runs do, counted from workflow code with the SDK's workflow meter: it emits nothing while a
 * run is replayed (a worker restart or a cache eviction counts nothing twice), and the worker's
 * Runtime exports it beside the SDK's own metrics (RUNBOOK_METRICS_PORT, src/metrics/server.ts).
 * The meter adds namespace, task_queue and workflow_type itself. Names are declared once here.
 */

export const workflowMetrics = {
  runsStarted: 'runbook_runs_started',
  runsEnded: 'runbook_runs_ended',
  gateWait: 'runbook_gate_wait_seconds',
  decisions: 'runbook_decisions',
  compensations: 'runbook_compensations',
} as const;

/** A run admitted by the worker, by the channel it came through (api, temporal, schedule, alert…). */
export function countRunStarted(runbook: string, target: string, channel: string, signed: boolean): void {
  metricMeter
    .createCounter(workflowMetrics.runsStarted, 'runs', 'Runs admitted by the worker')
    .add(1, { runbook, target, channel, signed: String(signed) });
}

export function countRunEnded(
  runbook: string,
  target: string,
  outcome: 'completed' | 'failed' | 'aborted' | 'refused',
): void {
  metricMeter
    .createCounter(workflowMetrics.runsEnded, 'runs', 'Runs ended, by outcome')
    .add(1, { runbook, target, outcome });
}

/** How long a gate stayed open, by how it closed (approved, rejected, expired, aborted). */
export function recordGateWait(runbook: string, target: string, gate: string, outcome: string, ms: number): void {
  metricMeter
    .createHistogram(workflowMetrics.gateWait, 'float', 's', 'Time a gate waited for its decision')
    .record(ms / 1000, { runbook, target, gate, outcome });
}

/** A decision accepted at a gate, by channel and whether the API signed it. */
export function countDecision(runbook: string, gate: string, decision: string, via: string, signed: boolean): void {
  metricMeter
    .createCounter(workflowMetrics.decisions, 'decisions', 'Decisions accepted at gates')
    .add(1, { runbook, gate, decision, via, signed: String(signed) });
}

export function countCompensation(runbook: string, step: string, outcome: 'ok' | 'failed'): void {
  metricMeter
    .createCounter(workflowMetrics.compensations, 'compensations', 'Compensations run on an abort')
    .add(1, { runbook, step, outcome });
}
