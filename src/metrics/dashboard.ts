/**
 * The Grafana dashboard (docs/grafana-dashboard.json, written by `npx tsx scripts/dashboard.ts`)
 * over the metrics the worker and the API export (README, "Metrics"): runs and their outcomes,
 * starts refused at the worker, gates and decisions, steps, locks, dumps and restores, the API,
 * and the Temporal SDK's own worker health. One Prometheus data source, chosen on import.
 */

interface Panel {
  title: string;
  description: string;
  /** PromQL, one per series; `legend` names it. */
  queries: Array<{ expr: string; legend: string }>;
  unit?: string;
  kind?: 'timeseries' | 'stat';
}

const rows: Array<{ row: string; panels: Panel[] }> = [
  {
    row: 'Runs',
    panels: [
      {
        title: 'Runs started',
        description: 'Admitted by the worker, by runbook and channel (api, temporal, alertmanager, schedule).',
        queries: [
          {
            expr: 'sum by (runbook, channel) (increase(runbook_runs_started_total[$__rate_interval]))',
            legend: '{{runbook}} via {{channel}}',
          },
        ],
      },
      {
        title: 'Runs ended',
        description: 'By outcome: completed, failed, aborted, refused.',
        queries: [
          {
            expr: 'sum by (runbook, outcome) (increase(runbook_runs_ended_total[$__rate_interval]))',
            legend: '{{runbook}} {{outcome}}',
          },
        ],
      },
      {
        title: 'Starts refused by the worker (last 24 h)',
        description:
          'Starts the worker did not admit: unsigned from the Temporal UI or CLI where the target denies them, bad input, an unknown target. Anything here is worth a look.',
        kind: 'stat',
        queries: [{ expr: 'sum(increase(runbook_runs_ended_total{outcome="refused"}[24h]))', legend: 'refused' }],
      },
      {
        title: 'Compensations',
        description: 'Undo steps run on an abort, by runbook, step and outcome.',
        queries: [
          {
            expr: 'sum by (runbook, step, outcome) (increase(runbook_compensations_total[$__rate_interval]))',
            legend: '{{runbook}} {{step}} {{outcome}}',
          },
        ],
      },
    ],
  },
  {
    row: 'Gates',
    panels: [
      {
        title: 'Gate wait (p50, p95)',
        description: 'How long gates stayed open until their decision or deadline.',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.5, sum by (le, runbook, gate) (rate(runbook_gate_wait_seconds_bucket[$__rate_interval])))',
            legend: 'p50 {{runbook}} {{gate}}',
          },
          {
            expr: 'histogram_quantile(0.95, sum by (le, runbook, gate) (rate(runbook_gate_wait_seconds_bucket[$__rate_interval])))',
            legend: 'p95 {{runbook}} {{gate}}',
          },
        ],
      },
      {
        title: 'Decisions',
        description: 'Accepted decisions by channel (update, signal) and whether they were signed by the API.',
        queries: [
          {
            expr: 'sum by (decision, via, signed) (increase(runbook_decisions_total[$__rate_interval]))',
            legend: '{{decision}} via {{via}} signed={{signed}}',
          },
        ],
      },
    ],
  },
  {
    row: 'Steps, locks, dumps',
    panels: [
      {
        title: 'Step duration (p95)',
        description: 'Activity attempts, by activity.',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (le, activityType) (rate(runbook_activity_seconds_bucket[$__rate_interval])))',
            legend: '{{activityType}}',
          },
        ],
      },
      {
        title: 'Step retries',
        description: 'Attempts after the first, by activity.',
        queries: [
          {
            expr: 'sum by (activityType) (increase(runbook_activity_retries_total[$__rate_interval]))',
            legend: '{{activityType}}',
          },
        ],
      },
      {
        title: 'Target locks held',
        description: 'Locks taken minus locks released, over every worker.',
        queries: [
          {
            expr: 'sum by (target) (runbook_lock_acquired_total) - sum by (target) (runbook_lock_released_total or (runbook_lock_acquired_total * 0))',
            legend: '{{target}}',
          },
        ],
      },
      {
        title: 'Dumps and restores (p95 seconds)',
        description: 'Verified dumps written, and dumps restored into a scratch database.',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (le, target) (rate(runbook_dump_seconds_bucket[$__rate_interval])))',
            legend: 'dump {{target}}',
          },
          {
            expr: 'histogram_quantile(0.95, sum by (le, target) (rate(runbook_restore_seconds_bucket[$__rate_interval])))',
            legend: 'restore {{target}}',
          },
        ],
      },
      {
        title: 'Bytes dumped and restored',
        description: 'Per interval, by target.',
        unit: 'bytes',
        queries: [
          {
            expr: 'sum by (target) (increase(runbook_dump_bytes_total[$__rate_interval]))',
            legend: 'dumped {{target}}',
          },
          {
            expr: 'sum by (target) (increase(runbook_restore_bytes_total[$__rate_interval]))',
            legend: 'restored {{target}}',
          },
        ],
      },
    ],
  },
  {
    row: 'API',
    panels: [
      {
        title: 'API requests',
        description: 'By route pattern and status.',
        unit: 'reqps',
        queries: [
          {
            expr: 'sum by (route, status) (rate(runbook_api_requests_total[$__rate_interval]))',
            legend: '{{route}} {{status}}',
          },
        ],
      },
      {
        title: 'API latency (p95)',
        description: 'By route pattern.',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (le, route) (rate(runbook_api_request_seconds_bucket[$__rate_interval])))',
            legend: '{{route}}',
          },
        ],
      },
    ],
  },
  {
    row: 'Temporal worker (SDK)',
    panels: [
      {
        title: 'Workflow task schedule-to-start (p95)',
        description: 'Time tasks wait for a worker: growing means too few workers or a busy one.',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_workflow_task_schedule_to_start_latency_bucket[$__rate_interval])))',
            legend: '{{task_queue}}',
          },
        ],
      },
      {
        title: 'Activity schedule-to-start (p95)',
        description: 'Steps waiting for a worker (a host queue with no worker shows here).',
        unit: 's',
        queries: [
          {
            expr: 'histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_activity_schedule_to_start_latency_bucket[$__rate_interval])))',
            legend: '{{task_queue}}',
          },
        ],
      },
      {
        title: 'Task slots used',
        description: 'Per worker and slot type.',
        queries: [
          {
            expr: 'sum by (task_queue, worker_type) (temporal_worker_task_slots_used)',
            legend: '{{task_queue}} {{worker_type}}',
          },
        ],
      },
      {
        title: 'Sticky cache size',
        description: "Runs held in the workers' memory.",
        queries: [{ expr: 'sum by (task_queue) (temporal_sticky_cache_size)', legend: '{{task_queue}}' }],
      },
    ],
  },
];

export function grafanaDashboard(): Record<string, unknown> {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const { row, panels: ps } of rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: y++ },
      panels: [],
    });
    ps.forEach((p, i) => {
      const w = 12;
      panels.push({
        id: id++,
        type: p.kind ?? 'timeseries',
        title: p.title,
        description: p.description,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: 8, w, x: (i % 2) * w, y: y + Math.floor(i / 2) * 8 },
        fieldConfig: { defaults: { unit: p.unit ?? 'short' }, overrides: [] },
        options:
          p.kind === 'stat'
            ? { reduceOptions: { calcs: ['lastNotNull'] } }
            : { legend: { displayMode: 'list', placement: 'bottom' } },
        targets: p.queries.map((q, k) => ({
          refId: String.fromCharCode(65 + k),
          expr: q.expr,
          legendFormat: q.legend,
          datasource: { type: 'prometheus', uid: '${datasource}' },
        })),
      });
    });
    y += Math.ceil(ps.length / 2) * 8;
  }
  return {
    title: 'durable-runbooks',
    uid: 'durable-runbooks',
    description: 'Runbook runs, gates, steps, locks, dumps, the API and the Temporal workers (README, "Metrics").',
    tags: ['durable-runbooks', 'temporal'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus' }] },
    panels,
  };
}

/** The metric names the dashboard's queries read (without _bucket/_total suffixes stripped: as exported). */
export function dashboardMetrics(): string[] {
  const names = rows.flatMap((r) =>
    r.panels.flatMap((p) => p.queries.flatMap((q) => q.expr.match(/\b(?:runbook|temporal)_[a-z_]+\b/g) ?? [])),
  );
  return [...new Set(names)].sort();
}
