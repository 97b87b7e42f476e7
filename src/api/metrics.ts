import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The API's own metrics: requests by route pattern (never the raw URL, so a caller cannot grow the
 * label set), method and status, their durations, and runs started through it by runbook and target.
 */
export function apiMetrics(app: FastifyInstance, registry: Registry) {
  const requests = new Counter({
    name: 'runbook_api_requests_total',
    help: 'API requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'runbook_api_request_seconds',
    help: 'API request durations',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const started = new Counter({
    name: 'runbook_api_runs_started_total',
    help: 'Runs started through the API',
    labelNames: ['runbook', 'target'],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    seconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
  return { runStarted: (runbook: string, target: string) => started.inc({ runbook, target }) };
}
