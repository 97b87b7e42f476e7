import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One scrape endpoint per process (RUNBOOK_METRICS_PORT, on RUNBOOK_METRICS_HOST, loopback by
 * default): our prom-client registry (the API's counters, the process's own) followed by the
 * Temporal SDK's worker metrics and the runs' metrics counted in workflow code
 * (src/engine/metrics.ts), which the SDK's Runtime exports on a loopback port of its own and
 * this endpoint relays. The names do not overlap: ours start with runbook_ or process_/nodejs_,
 * the SDK's with temporal_.
 */

export interface MetricsEndpoint {
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

export function newRegistry(process: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export async function serveMetrics(opts: {
  host: string;
  port: number;
  registry: Registry;
  sdkUrl?: string;
}): Promise<MetricsEndpoint> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics here.\n');
      return;
    }
    scrape(opts.registry, opts.sdkUrl).then(
      (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
      (err: Error) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`Metrics could not be collected: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `RUNBOOK_METRICS_PORT ${opts.port} is already in use on ${opts.host}: choose another port, or stop what holds it.`,
            )
          : err,
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/metrics`,
    registry: opts.registry,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function scrape(registry: Registry, sdkUrl: string | undefined): Promise<string> {
  const ours = await registry.metrics();
  if (!sdkUrl) return ours;
  // The SDK's exporter may not answer yet right after start-up: our metrics still go out.
  const sdk = await fetch(sdkUrl, { signal: AbortSignal.timeout(5000) }).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  return `${ours.trimEnd()}\n${sdk}`;
}
