import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { privateDirSync } from '../util/private-fs.js';
import type { TemporalDatabases, PostgresOptions } from './temporal-db.js';
import { postgresDefaults } from './temporal-db.js';
import type { ClusterCerts } from './tls.js';
import { canListen, ephemeralLow } from '../util/ports.js';

/**
 * The server's config, derived from the module's own `config/development-postgres12.yaml` (so a
 * key Temporal adds or renames shows up in the template, not as a surprise in ours): our
 * databases, loopback ports, and TLS everywhere — the frontend requires a client certificate
 * signed by the cluster CA, the services verify each other with the internode certificate, and
 * the server's own system worker connects to the frontend with a client certificate of its own.
 */

export interface TemporalPorts {
  frontend: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  /** The frontend's HTTP API; 0 (default) leaves it off. */
  frontendHttp: number;
  /** Prometheus metrics on 127.0.0.1; 0 (default) leaves them off. */
  metrics: number;
}

export interface ServerConfigOptions {
  /** Where the YAML goes: `<dir>/config/cluster.yaml`, started with `--root <dir> --env cluster`. */
  dir: string;
  template: string;
  certs: ClusterCerts;
  ports: TemporalPorts;
  postgres?: PostgresOptions;
  databases: TemporalDatabases;
  /** Fixed when the databases are first used: changing it later corrupts them. Default 4. */
  numHistoryShards?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Connection pool sizes per store (default 8 and 3). */
  maxConns?: { persistence?: number; visibility?: number };
}

export const CONFIG_ENV = 'cluster';

/**
 * Ports given, others picked free on 127.0.0.1 (all distinct). Below 32768: Temporal keeps
 * membership ports in a smallint column, and the range stays clear of the kernel's ephemeral ports.
 */
export async function choosePorts(given: Partial<TemporalPorts> = {}): Promise<TemporalPorts> {
  const taken = new Set(Object.values(given).filter((p) => p > 0));
  const pick = async () => {
    for (;;) {
      const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
      if (!taken.has(port) && (await canListen(port))) return (taken.add(port), port);
    }
  };
  return {
    frontend: given.frontend ?? (await pick()),
    frontendMembership: given.frontendMembership ?? (await pick()),
    history: given.history ?? (await pick()),
    historyMembership: given.historyMembership ?? (await pick()),
    matching: given.matching ?? (await pick()),
    matchingMembership: given.matchingMembership ?? (await pick()),
    worker: given.worker ?? (await pick()),
    workerMembership: given.workerMembership ?? (await pick()),
    frontendHttp: given.frontendHttp ?? 0,
    metrics: given.metrics ?? 0,
  };
}

const LOW = 20_000;
const HIGH = Math.min(32_768, ephemeralLow());

/** Writes the server config and its dynamic config (0600: the database password is in it); returns the YAML's path. */
export function writeServerConfig(opts: ServerConfigOptions): string {
  const configDir = path.join(opts.dir, 'config');
  privateDirSync(configDir);
  const dynamicConfig = path.join(configDir, 'dynamic.yaml');
  writeFileSync(dynamicConfig, YAML.stringify(dynamicConfigValues()), { mode: 0o600 });
  const config = YAML.parse(readFileSync(opts.template, 'utf8')) as Record<string, unknown>;
  Object.assign(config, {
    log: { stdout: true, level: opts.logLevel ?? 'info' },
    persistence: persistence(opts),
    global: global(opts),
    services: services(opts.ports),
    clusterMetadata: clusterMetadata(config.clusterMetadata, opts.ports.frontend),
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: dynamicConfig, pollInterval: '10s' },
  });
  const file = path.join(configDir, `${CONFIG_ENV}.yaml`);
  writeFileSync(file, YAML.stringify(config, { aliasDuplicateObjects: false }), { mode: 0o600 });
  return file;
}

function dynamicConfigValues(): Record<string, Array<{ value: unknown }>> {
  return {
    // Membership gossip (ringpop) over the internode TLS too, not only the services' gRPC.
    'system.enableRingpopTLS': [{ value: true }],
    // As the module's development config: workflow ids up to 255 characters (runbook ids embed target names).
    'limit.maxIDLength': [{ value: 255 }],
  };
}

function persistence(opts: ServerConfigOptions) {
  const pgo = postgresDefaults(opts.postgres);
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${pgo.host}:${pgo.port}`,
      connectProtocol: 'tcp',
      user: pgo.user,
      password: pgo.password ?? '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    defaultStore: 'postgres-default',
    visibilityStore: 'postgres-visibility',
    numHistoryShards: opts.numHistoryShards ?? 4,
    datastores: {
      // Small pools: the module's development config (20 + 5 per store, ~29 held in all) let three servers
      // (the cluster lane's, the cluster test's and the mTLS test's) take 90 of PostgreSQL's default 100
      // connections, and the APIs' state pools were then refused ("too many clients"). One server on
      // this scale needs far fewer; a production deployment sizes these in its own config.
      'postgres-default': store(opts.databases.persistence, opts.maxConns?.persistence ?? 8),
      'postgres-visibility': store(opts.databases.visibility, opts.maxConns?.visibility ?? 3),
    },
  };
}

function global(opts: ServerConfigOptions) {
  const { certs } = opts;
  const ca = [certs.caFile];
  const server = (pair: { certFile: string; keyFile: string }) => ({
    ...pair,
    requireClientAuth: true,
    clientCaFiles: ca,
  });
  return {
    membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
    pprof: { port: 0 },
    ...(opts.ports.metrics
      ? {
          metrics: {
            prometheus: {
              framework: 'tally',
              timerType: 'histogram',
              listenAddress: `127.0.0.1:${opts.ports.metrics}`,
            },
          },
        }
      : {}),
    tls: {
      internode: {
        server: server(certs.internode),
        client: { serverName: certs.internodeServerName, rootCaFiles: ca },
      },
      frontend: { server: server(certs.frontend), client: { serverName: certs.serverName, rootCaFiles: ca } },
      systemWorker: { ...certs.clients['system-worker'], client: { serverName: certs.serverName, rootCaFiles: ca } },
      expirationChecks: { warningWindow: '168h', errorWindow: '24h', checkInterval: '1h' },
    },
  };
}

function services(ports: TemporalPorts) {
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, number> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    frontend: rpc(ports.frontend, ports.frontendMembership, ports.frontendHttp ? { httpPort: ports.frontendHttp } : {}),
    history: rpc(ports.history, ports.historyMembership),
    matching: rpc(ports.matching, ports.matchingMembership),
    worker: rpc(ports.worker, ports.workerMembership),
  };
}

/** The template's single-cluster metadata, with the frontend's real address. */
function clusterMetadata(template: unknown, frontendPort: number) {
  const meta = structuredClone(template) as {
    currentClusterName: string;
    clusterInformation: Record<string, { rpcAddress: string }>;
  };
  const current = meta.clusterInformation[meta.currentClusterName];
  if (current) current.rpcAddress = `localhost:${frontendPort}`;
  return meta;
}
