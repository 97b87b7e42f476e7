'use strict';
/**
 * Not a workflow: OpenTelemetry's workflow interceptors (@temporalio/interceptors-opentelemetry),
 * bundled with every runbook (src/tracing/index.ts, workflowInterceptorModules) and engaged only
 * for a run whose start carried a trace (a traced API, CLI or parent run). A run started without
 * one — tracing off, a schedule, the Temporal UI — goes through untouched: no span, no header,
 * no sink call, so its history is the same as before tracing existed. The choice is made from the
 * start headers, which replay sees again, so a replay makes the same choice.
 *
 * CommonJS on purpose: the OpenTelemetry workflow code is `require`d only by a traced run. Each
 * run evaluates the bundle's modules it uses for itself; imported at the top, OpenTelemetry's module
 * graph cost every run a worker holds about 0.27 MB, traced or not (bench/approvals.ts: 0.84 against
 * 0.57 MB a parked run). webpack bundles a CommonJS `require` and evaluates it at the call; in an
 * ES module of this package (`"type": "module"`) it would leave `require` alone, and a traced run
 * would fail with "require is not defined" (test/replay.test.ts replays a traced history on the
 * compiled bundle too).
 */

/** @temporalio/interceptors-opentelemetry's TRACE_HEADER (test/unit/tracing-header.test.ts checks they agree). */
const TRACE_HEADER = '_tracer-data';

let otel;
const otelWorkflow = () => (otel ??= require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js'));

/** @returns {import('@temporalio/workflow').WorkflowInterceptors} */
function interceptors() {
  // One call per run: this closure is the run's own.
  let traced;
  const inbound = {
    execute(input, next) {
      if (input.headers[TRACE_HEADER]) {
        const o = otelWorkflow();
        traced = {
          inbound: new o.OpenTelemetryInboundInterceptor(),
          outbound: new o.OpenTelemetryOutboundInterceptor(),
          internals: new o.OpenTelemetryInternalsInterceptor(),
        };
      }
      return traced ? traced.inbound.execute(input, next) : next(input);
    },
    handleSignal: (input, next) => (traced ? traced.inbound.handleSignal(input, next) : next(input)),
    handleUpdate: (input, next) => (traced ? traced.inbound.handleUpdate(input, next) : next(input)),
    validateUpdate: (input, next) => (traced ? traced.inbound.validateUpdate(input, next) : next(input)),
    handleQuery: (input, next) => (traced ? traced.inbound.handleQuery(input, next) : next(input)),
  };
  const outbound = {
    scheduleActivity: (input, next) => (traced ? traced.outbound.scheduleActivity(input, next) : next(input)),
    scheduleLocalActivity: (input, next) => (traced ? traced.outbound.scheduleLocalActivity(input, next) : next(input)),
    startChildWorkflowExecution: (input, next) =>
      traced ? traced.outbound.startChildWorkflowExecution(input, next) : next(input),
    continueAsNew: (input, next) => (traced ? traced.outbound.continueAsNew(input, next) : next(input)),
    signalWorkflow: (input, next) => (traced ? traced.outbound.signalWorkflow(input, next) : next(input)),
    startNexusOperation: (input, next) => (traced ? traced.outbound.startNexusOperation(input, next) : next(input)),
    getLogAttributes: (input, next) => (traced ? traced.outbound.getLogAttributes(input, next) : next(input)),
  };
  const internals = {
    dispose(input, next) {
      // Its dispose is async in name only: it stops the context manager and calls next() at once.
      if (traced) void traced.internals.dispose(input, next);
      else next(input);
    },
  };
  return { inbound: [inbound], outbound: [outbound], internals: [internals] };
}

module.exports = { TRACE_HEADER, interceptors };
