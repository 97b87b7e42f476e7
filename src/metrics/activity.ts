import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Each activity attempt's duration and outcome, and its retries, by activity and runbook
 * (the workflow type), through the SDK's activity meter: exported with the workflow metrics.
 */
export function activityMetricsInterceptors(): ActivityInterceptorsFactory[] {
  return [(ctx) => ({
    inbound: {
      async execute(input, next) {
        const { workflowType, attempt } = ctx.info;
        // The SDK's activity meter labels activityType and taskQueue itself; workflowType as the workflow meter spells it.
        const tags = { workflowType: workflowType ?? 'standalone' };
        if (attempt > 1) ctx.metricMeter.createCounter('runbook_activity_retries', 'attempts', 'Activity attempts after the first (retries)').add(1, tags);
        const started = performance.now();
        let outcome = 'ok';
        try {
          return await next(input);
        } catch (err) {
          outcome = (err as Error)?.name === 'CancelledFailure' ? 'cancelled' : 'failed';
          throw err;
        } finally {
          ctx.metricMeter.createHistogram('runbook_activity_seconds', 'float', 's', 'Activity attempt durations').record((performance.now() - started) / 1000, { ...tags, outcome });
        }
      },
    },
  })];
}
