import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Each activity attempt's duration and outcome, and its retries, by activity and runbook
 * (the workflow type), through the SDK's activity meter: exported with the workflow metrics.
 * Some activities' results also count what they did (resultMetrics): locks taken and released,
 * dumps and restores with their bytes and seconds.
 */
export function activityMetricsInterceptors(): ActivityInterceptorsFactory[] {
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const { workflowType, attempt, activityType } = ctx.info;
          // The SDK's activity meter labels activityType and taskQueue itself; workflowType as the workflow meter spells it.
          const tags = { workflowType: workflowType ?? 'standalone' };
          if (attempt > 1)
            ctx.metricMeter
              .createCounter('runbook_activity_retries', 'attempts', 'Activity attempts after the first (retries)')
              .add(1, tags);
          const started = performance.now();
          let outcome = 'ok';
          try {
            const result: unknown = await next(input);
            for (const m of resultMetrics(activityType, input.args, result)) {
              if (m.kind === 'counter') ctx.metricMeter.createCounter(m.name, m.unit, m.help).add(m.value, m.labels);
              else ctx.metricMeter.createHistogram(m.name, 'float', m.unit, m.help).record(m.value, m.labels);
            }
            return result;
          } catch (err) {
            outcome = (err as Error)?.name === 'CancelledFailure' ? 'cancelled' : 'failed';
            throw err;
          } finally {
            ctx.metricMeter
              .createHistogram('runbook_activity_seconds', 'float', 's', 'Activity attempt durations')
              .record((performance.now() - started) / 1000, { ...tags, outcome });
          }
        },
      },
    }),
  ];
}

export interface ResultMetric {
  kind: 'counter' | 'histogram';
  name: string;
  unit: string;
  help: string;
  value: number;
  labels: Record<string, string>;
}

/**
 * What a finished activity did, as metrics, from its arguments and result (the first argument of
 * these activities is the target's name). A dump found already made by an earlier attempt
 * (no `pgDumpMs`: nothing was dumped this time) and a lock released that was not held count nothing.
 * "Locks held" is `runbook_lock_acquired_total - runbook_lock_released_total`, summed over workers.
 */
export function resultMetrics(activityType: string, args: unknown[], result: unknown): ResultMetric[] {
  const target = typeof args[0] === 'string' ? args[0] : 'unknown';
  const r = (result ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const counter = (
    name: string,
    unit: string,
    help: string,
    value: number,
    labels: Record<string, string> = { target },
  ): ResultMetric => ({ kind: 'counter', name, unit, help, value, labels });
  const seconds = (
    name: string,
    help: string,
    ms: number,
    labels: Record<string, string> = { target },
  ): ResultMetric => ({ kind: 'histogram', name, unit: 's', help, value: ms / 1000, labels });
  switch (activityType) {
    case 'acquireTargetLock':
      return [counter('runbook_lock_acquired', 'locks', "Target locks taken (a run's lock on its target)", 1)];
    case 'releaseTargetLock':
      return r.released === true ? [counter('runbook_lock_released', 'locks', 'Target locks released', 1)] : [];
    case 'pgDumpBackup': {
      const ms = num(r.pgDumpMs);
      const bytes = num(r.totalBytes);
      if (ms === undefined || bytes === undefined) return [];
      return [
        counter('runbook_dumps', 'dumps', 'Verified dumps written', 1),
        counter('runbook_dump_bytes', 'bytes', 'Bytes of verified dumps written', bytes),
        seconds('runbook_dump_seconds', 'Time a dump took, checks and manifest included', num(r.durationMs) ?? ms),
      ];
    }
    case 'pgRestoreInto': {
      const ms = num(r.durationMs);
      if (ms === undefined) return [];
      const labels = { target, format: typeof r.format === 'string' ? r.format : 'unknown' };
      return [
        counter('runbook_restores', 'restores', 'Dumps restored into a scratch database', 1, labels),
        counter('runbook_restore_bytes', 'bytes', 'Bytes of the dumps restored', num(r.bytes) ?? 0, labels),
        seconds('runbook_restore_seconds', 'Time a restore took, row counts included', ms, labels),
      ];
    }
    default:
      return [];
  }
}
