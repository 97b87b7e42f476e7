/**
 * Not a workflow: OpenTelemetry's workflow interceptors (@temporalio/interceptors-opentelemetry),
 * bundled with every runbook (src/tracing/index.ts, workflowInterceptorModules) and engaged only
 * for a run whose start carried a trace (a traced API, CLI or parent run). A run started without
 * one — tracing off, a schedule, the Temporal UI — goes through untouched: no span, no header,
 * no sink call, so its history is the same as before tracing existed. The choice is made from the
 * start headers, which replay sees again, so a replay makes the same choice.
 */
import type { WorkflowInboundCallsInterceptor, WorkflowInterceptors, WorkflowInternalsInterceptor, WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';
import type { OpenTelemetryInboundInterceptor, OpenTelemetryInternalsInterceptor, OpenTelemetryOutboundInterceptor } from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';

/** @temporalio/interceptors-opentelemetry's TRACE_HEADER (test/unit/tracing-header.test.ts checks they agree). */
export const TRACE_HEADER = '_tracer-data';

type OtelWorkflow = typeof import('@temporalio/interceptors-opentelemetry/lib/workflow/index.js');
/**
 * The OpenTelemetry workflow code is required only by a traced run: imported at the top, its module
 * graph was evaluated for every run a worker holds, traced or not, and cost about 0.27 MB a parked
 * run (bench/approvals.ts: 0.84 against 0.57 MB). webpack bundles it either way; this defers its
 * evaluation to the first traced run.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const otelWorkflow = (): OtelWorkflow => require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js') as OtelWorkflow;

interface Traced {
  inbound: OpenTelemetryInboundInterceptor;
  outbound: OpenTelemetryOutboundInterceptor;
  internals: OpenTelemetryInternalsInterceptor;
}

export const interceptors = (): WorkflowInterceptors => {
  // One call per run: this closure is the run's own.
  let traced: Traced | undefined;
  const inbound: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      if (input.headers[TRACE_HEADER]) {
        const otel = otelWorkflow();
        traced = { inbound: new otel.OpenTelemetryInboundInterceptor(), outbound: new otel.OpenTelemetryOutboundInterceptor(), internals: new otel.OpenTelemetryInternalsInterceptor() };
      }
      return traced ? traced.inbound.execute(input, next) : next(input);
    },
    handleSignal: (input, next) => (traced ? traced.inbound.handleSignal(input, next) : next(input)),
    handleUpdate: (input, next) => (traced ? traced.inbound.handleUpdate(input, next) : next(input)),
    validateUpdate: (input, next) => (traced ? traced.inbound.validateUpdate(input, next) : next(input)),
    handleQuery: (input, next) => (traced ? traced.inbound.handleQuery(input, next) : next(input)),
  };
  const outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => (traced ? traced.outbound.scheduleActivity(input, next) : next(input)),
    scheduleLocalActivity: (input, next) => (traced ? traced.outbound.scheduleLocalActivity(input, next) : next(input)),
    startChildWorkflowExecution: (input, next) => (traced ? traced.outbound.startChildWorkflowExecution(input, next) : next(input)),
    continueAsNew: (input, next) => (traced ? traced.outbound.continueAsNew(input, next) : next(input)),
    signalWorkflow: (input, next) => (traced ? traced.outbound.signalWorkflow(input, next) : next(input)),
    startNexusOperation: (input, next) => (traced ? traced.outbound.startNexusOperation(input, next) : next(input)),
    getLogAttributes: (input, next) => (traced ? traced.outbound.getLogAttributes(input, next) : next(input)),
  };
  const internals: WorkflowInternalsInterceptor = {
    dispose(input, next) {
      // Its dispose is async in name only: it stops the context manager and calls next() at once.
      if (traced) void traced.internals.dispose(input, next);
      else next(input);
    },
  };
  return { inbound: [inbound], outbound: [outbound], internals: [internals] };
};
