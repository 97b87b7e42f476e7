import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * One span per API request, the root of its trace: what the request does with Temporal (the
 * client's StartWorkflow, and through its header the run and its steps) hangs under it. Named by
 * the route pattern, never the raw URL; no header, query or body goes into it (tokens, inputs).
 * A caller's own traceparent is not followed: every channel is hostile, and the run's trace starts here.
 */
export function traceRequests(app: FastifyInstance, tracer: Tracer): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const span = tracer.startSpan(`${req.method} ${route}`, {
      kind: SpanKind.SERVER,
      root: true,
      attributes: { 'http.request.method': req.method, 'http.route': route },
    });
    spans.set(req, span);
    const ctx = trace.setSpan(context.active(), span);
    // The body arrives in events of the socket's own context: bind them, so the handler runs in ours.
    context.bind(ctx, req.raw);
    context.bind(ctx, reply.raw);
    context.with(ctx, done);
  });
  const end = (req: FastifyRequest, status: number | undefined) => {
    const span = spans.get(req);
    if (!span) return;
    spans.delete(req);
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    if (status === undefined || status >= 500)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(status === undefined ? { message: 'request aborted' } : {}) });
    span.end();
  };
  app.addHook('onResponse', (req, reply, done) => {
    end(req, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (req, done) => {
    end(req, undefined);
    done();
  });
}
