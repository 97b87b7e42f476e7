import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startDevServer, type DevServer, type DevServerOptions } from '../../src/temporal/devserver.js';
import { connectionOptions, type TemporalConnectionOptions } from '../../src/temporal/connection.js';
import { scanPrivateServer } from './secrets.js';

/**
 * How a test reaches a Temporal server: the run's shared server (a dev server, or the one
 * TEMPORAL_ADDRESS names, with the TLS variables of the environment: the cluster lane), or a
 * private dev server a test started itself (plain gRPC).
 */
export function serverOptions(address: string = inject('temporalAddress')): TemporalConnectionOptions {
  if (address !== inject('temporalAddress') || !process.env.TEMPORAL_ADDRESS) return { address };
  return connectionOptions(loadConfig({ ...tlsEnv(), TEMPORAL_ADDRESS: address }));
}

const TLS_VARS = [
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_API_KEY',
];

/** The TLS variables of this run, for a child process (a worker, the CLI) that talks to the shared server. */
export function tlsEnv(): Record<string, string> {
  return Object.fromEntries(TLS_VARS.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
}

/** A dev server of a test's own, whose histories the run's secret scan reads as it stops (each stop). */
export async function privateDevServer(opts: DevServerOptions): Promise<DevServer> {
  const server = await startDevServer(opts);
  const stop = server.stop.bind(server);
  return Object.assign(server, {
    stop: async (graceMs?: number) => {
      await scanPrivateServer(server.address);
      await stop(graceMs);
    },
  });
}
