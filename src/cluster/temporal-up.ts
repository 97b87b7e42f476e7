import path from 'node:path';
import { resolveTemporalServer } from '../temporal/server.js';
import { startTemporalCluster, type TemporalCluster, type TlsFiles } from './temporal.js';

/**
 * The cluster's Temporal (src/cluster/temporal.ts) as the cluster and its crash tests use it: a
 * server that can be killed and started again on the same databases, ports and certificates.
 */
export interface ClusterTemporal {
  address: string;
  /** The certificate our workers and APIs present. */
  tls: TlsFiles;
  tlsFor: TemporalCluster['tlsFor'];
  uiUrl?: string;
  /** Why there is no UI, when there is none. */
  uiMissing?: string;
  /** Starts it again after kill() or stop(), on the same databases and ports. */
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface TemporalUpOptions {
  dir: string;
  postgres: { host: string; port: number; user: string; password?: string };
  /** Database-name prefix: <prefix>_temporal and <prefix>_temporal_visibility. */
  prefix: string;
  port?: number;
  /** The UI on this port (when the UI server was built); its codec is our API's. */
  uiPort?: number;
  codecEndpoint?: string;
  namespace?: string;
  log: (line: string) => void;
}

export async function bringUpTemporal(opts: TemporalUpOptions): Promise<ClusterTemporal> {
  const install = await resolveTemporalServer({ log: opts.log });
  const uiMissing = install.uiServer ? undefined : install.uiServerMissing?.trim().split('\n')[0];
  const start = (ports?: TemporalCluster['ports']) =>
    startTemporalCluster({
      dir: path.join(opts.dir, 'temporal'),
      install,
      postgres: opts.postgres,
      databases: { persistence: `${opts.prefix}_temporal`, visibility: `${opts.prefix}_temporal_visibility` },
      namespace: opts.namespace,
      ports: ports ?? (opts.port ? { frontend: opts.port } : undefined),
      ui: install.uiServer && opts.uiPort ? { port: opts.uiPort, codecEndpoint: opts.codecEndpoint } : undefined,
      log: opts.log,
    });
  let current = await start();
  return {
    address: current.address,
    tls: current.tls,
    tlsFor: (client) => current.tlsFor(client),
    uiUrl: current.uiUrl,
    uiMissing,
    async start() {
      current = await start(current.ports);
    },
    stop: () => current.stop(),
    kill: () => current.kill(),
  };
}
