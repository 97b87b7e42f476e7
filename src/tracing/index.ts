import { fileURLToPath } from 'node:url';
import type { Tracer } from '@opentelemetry/api';
import type { ClientInterceptors } from '@temporalio/client';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions.js';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { Config } from '../config.js';

/**
 * Traces of the runbook system itself (OTLP/HTTP, JSON), on when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set: the API's request, the client's StartWorkflow under it, and on the worker the run
 * (RunWorkflow) and its steps (StartActivity in the workflow, RunActivity where a step runs),
 * all one trace. Off, nothing of OpenTelemetry is even loaded (0.3 s of imports here):
 * no interceptor, no exporter; the workflow side stays idle for runs started untraced
 * (src/workflows/tracing-interceptors.cjs).
 */
export interface Tracing {
  /** Where spans go, for the start-up line (without any credentials in the URL). */
  endpoint: string;
  tracer: Tracer;
  clientInterceptors(): ClientInterceptors;
  activityInterceptors(): ActivityInterceptorsFactory[];
  sinks(): InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }>;
  /** Sends what is still batched and stops; spans ended later are dropped. */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** This process's tracing: started once (the first caller names the service), then shared. Undefined when off. */
export async function startTracing(
  config: Config['tracing'],
  defaultServiceName: string,
): Promise<Tracing | undefined> {
  if (!config || active) return active;
  const [
    { trace },
    { OTLPTraceExporter },
    { Resource },
    { BatchSpanProcessor },
    { NodeTracerProvider },
    temporalOtel,
    { TRACE_HEADER },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-trace-node'),
    import('@temporalio/interceptors-opentelemetry'),
    import('@temporalio/interceptors-opentelemetry/lib/instrumentation.js'),
  ]);
  const resource = Resource.default().merge(new Resource({ 'service.name': config.serviceName ?? defaultServiceName }));
  // The exporter also reads OTEL_EXPORTER_OTLP_HEADERS (a collector's token), and the processor OTEL_BSP_* (batch size, delay).
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.url }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Global: the Temporal interceptors find the tracer, the context (AsyncLocalStorage) and the W3C propagator there.
  provider.register();
  const url = new URL(config.url);
  const tracing: Tracing = {
    endpoint: `${url.origin}${url.pathname}`,
    tracer: trace.getTracer('durable-runbooks'),
    clientInterceptors: () => ({ workflow: [new temporalOtel.OpenTelemetryWorkflowClientInterceptor()] }),
    activityInterceptors: () => [
      (ctx) => {
        const traced = new temporalOtel.OpenTelemetryActivityInboundInterceptor(ctx);
        // Only a traced run's steps: a run started untraced gets no span at all, rather than one trace per step.
        return {
          inbound: {
            execute: (input, next) => (input.headers[TRACE_HEADER] ? traced.execute(input, next) : next(input)),
          },
          outbound: new temporalOtel.OpenTelemetryActivityOutboundInterceptor(ctx),
        };
      },
    ],
    sinks: () => {
      const exporter = temporalOtel.makeWorkflowExporter(spanProcessor, resource);
      // The SDK's sink copies the whole WorkflowInfo onto each span (memo, search attributes, a previous run's
      // result): only the run's identity goes out of this process.
      return {
        exporter: { export: { ...exporter.export, fn: (info, spans) => exporter.export.fn(runIdentity(info), spans) } },
      };
    },
    async shutdown() {
      if (active === tracing) active = undefined;
      await provider.shutdown();
    },
  };
  active = tracing;
  return tracing;
}

/** What names a run on its workflow spans; the rest of WorkflowInfo stays in the history. */
function runIdentity(info: WorkflowInfo): WorkflowInfo {
  const { workflowId, runId, workflowType, taskQueue, namespace, attempt } = info;
  return { workflowId, runId, workflowType, taskQueue, namespace, attempt } as WorkflowInfo;
}

/** The tracing this process started, if any. */
export function activeTracing(): Tracing | undefined {
  return active;
}

/** A Temporal client's interceptors: the StartWorkflow span and the header that carries it to the run. */
export function tracingClientInterceptors(): ClientInterceptors | undefined {
  return active?.clientInterceptors();
}

/** The worker's activity interceptors: a RunActivity span per step, under the workflow's StartActivity. */
export function tracingActivityInterceptors(): ActivityInterceptorsFactory[] {
  return active?.activityInterceptors() ?? [];
}

/**
 * Where the workflows' spans leave the sandbox. Always registered: a traced run keeps calling it
 * when a worker without tracing picks it up, and there it drops the spans.
 */
export function tracingSinks(): InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }> {
  return active?.sinks() ?? { exporter: { export: { fn: () => undefined } } };
}

/**
 * The workflow interceptor module (src/workflows/tracing-interceptors.cjs), for every bundle:
 * bundleWorkflowCode({ workflowInterceptorModules }) and the worker's own bundling alike.
 */
export const workflowInterceptorModules = [
  // CommonJS from source and in dist/ alike (copied by npm run build): see the module's comment.
  fileURLToPath(new URL('../workflows/tracing-interceptors.cjs', import.meta.url)),
];
