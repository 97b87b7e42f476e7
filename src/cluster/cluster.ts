import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ensureDevTokens } from '../api/auth.js';
import type { Config } from '../config.js';
import { ensureDevDecisionKey } from '../keys.js';
import { TargetRegistry } from '../targets.js';
import { privateDirSync } from '../util/private-fs.js';
import { ensureBuilt } from './build.js';
import { killAllServices, startService, type Service } from './processes.js';
import { optionalApiVars, optionalTracingVars, serviceCommand, serviceEnv, type Role } from './services.js';
import { bringUpTemporal, type ClusterTemporal } from './temporal-up.js';

/**
 * The production shape on one machine: a Temporal server built from source with PostgreSQL
 * persistence and SQL visibility, mTLS between every client and its frontend, two workers on the
 * main task queue (and one per target host queue), and two API processes sharing their state in
 * PostgreSQL. Every process of ours runs the compiled JavaScript with the variables
 * docker-compose.yml gives it (src/cluster/services.ts).
 */

export interface ClusterOptions {
  config: Config;
  /** Where certificates, logs and the cluster's keys live (default <data dir>/cluster). */
  dir?: string;
  /** PostgreSQL for Temporal's and the APIs' databases (default 127.0.0.1:5432, user postgres; trust auth on this machine). */
  postgres?: { host: string; port: number; user: string; password?: string };
  /** Database-name prefix, so that two clusters (a test lane, a by-hand one) never share state. */
  prefix?: string;
  /** Ports: the API's first (the second is +1); Temporal's frontend. */
  apiPort?: number;
  temporalPort?: number;
  uiPort?: number;
  workers?: number;
  apis?: number;
  log?: (line: string) => void;
}

export interface Cluster {
  temporal: ClusterTemporal;
  /** The variables a client of ours needs to reach this Temporal (address, namespace, TLS files). */
  temporalEnv: Record<string, string>;
  apiUrls: string[];
  workers: Service[];
  hostWorkers: Service[];
  apis: Service[];
  devTokensFile?: string;
  /** The development payload key's file, when RUNBOOK_PAYLOAD_KEY was not given. */
  payloadKeyFile?: string;
  targetsFile: string;
  /** Starts worker `i` again after a crash (same queue, same variables). */
  restartWorker(i: number): Promise<Service>;
  restartApi(i: number): Promise<Service>;
  /** APIs, then workers, then Temporal. */
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? console.log;
  const config = opts.config;
  const dir = path.resolve(opts.dir ?? path.join(config.dataDir, 'cluster'));
  privateDirSync(dir);
  const logs = path.join(dir, 'logs');
  privateDirSync(logs);
  const postgres = opts.postgres ?? { host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres' };
  const prefix = opts.prefix ?? 'runbooks_cluster';
  const targets = TargetRegistry.load(config.targetsFile); // a broken targets file stops us before anything starts

  await ensureBuilt(log);
  const apiPort = opts.apiPort ?? config.api.port;
  const apiUrls = Array.from({ length: opts.apis ?? 2 }, (_, i) => `http://127.0.0.1:${apiPort + i}`);
  const temporal = await bringUpTemporal({
    dir,
    postgres,
    prefix,
    port: opts.temporalPort,
    uiPort: opts.uiPort,
    codecEndpoint: `${apiUrls[0]}/codec`,
    namespace: config.namespace,
    log,
  });
  const started: Service[] = [];
  try {
    const keys = clusterKeys(config, dir);
    const stateDb = `${prefix}_api_state`;
    await ensureDatabase(postgres, stateDb);
    const temporalEnv: Record<string, string> = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: config.namespace,
      TEMPORAL_TLS_CA: temporal.tls.caFile,
      TEMPORAL_TLS_CERT: temporal.tlsFor('cli').certFile,
      TEMPORAL_TLS_KEY: temporal.tlsFor('cli').keyFile,
      TEMPORAL_TLS_SERVER_NAME: temporal.tls.serverName,
      TEMPORAL_UI_URL: temporal.uiUrl ?? 'http://127.0.0.1:8233',
    };
    const values: Record<string, string | undefined> = {
      ...temporalEnv,
      RUNBOOK_TARGETS: path.resolve(config.targetsFile),
      RUNBOOK_DATA_DIR: path.resolve(config.dataDir),
      RUNBOOK_PAYLOAD_KEY: keys.payloadKey,
      RUNBOOK_DECISION_PUBLIC_KEY: keys.decisionPublicKey,
      RUNBOOK_DECISION_KEY: keys.decisionKey,
      RUNBOOK_API_HOST: '127.0.0.1',
      RUNBOOK_API_TOKENS: path.resolve(keys.tokensFile),
      RUNBOOK_STATE_DATABASE_URL: postgresUrl(postgres, stateDb),
      RUNBOOK_PUBLIC_URL: apiUrls[0],
      RUNBOOK_CODEC_ORIGINS: temporal.uiUrl ?? apiUrls[0],
    };
    // Each target's secrets, by the names the targets file gives, from our own environment: for the
    // workers only (the APIs know target names, never their credentials).
    const secrets = Object.fromEntries(
      targets
        .names()
        .flatMap((t) => targets.secretVariables(t))
        .flatMap((v) => (process.env[v] ? [[v, process.env[v]]] : [])),
    );
    const tracing = Object.fromEntries(
      optionalTracingVars.flatMap((v) => (process.env[v] ? [[v, process.env[v]]] : [])),
    );
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/',
      LOG_LEVEL: config.logLevel,
      ...tracing,
    };
    const hostQueues = [...new Set(targets.names().flatMap((t) => targets.info(t).taskQueue ?? []))];

    // Each role its own client certificate, as in docker-compose.yml.
    const certificate = (role: Role) => ({
      TEMPORAL_TLS_CERT: temporal.tlsFor(role).certFile,
      TEMPORAL_TLS_KEY: temporal.tlsFor(role).keyFile,
    });
    const spawnRole = async (role: Role, name: string, extra: Record<string, string>, args: string[] = []) => {
      const [command, ...entry] = serviceCommand[role];
      const service = await startService({
        name,
        command: command!,
        args: [...entry, ...args],
        env: {
          ...base,
          ...(role === 'worker' ? secrets : {}),
          ...serviceEnv(role, { ...values, ...certificate(role), ...extra }),
        },
        logFile: path.join(logs, `${name}.log`),
        readyLine: role === 'worker' ? /Worker polling task queue/ : /^API on http/,
      });
      started.push(service);
      return service;
    };
    const workers = await Promise.all(
      Array.from({ length: opts.workers ?? 2 }, (_, i) => spawnRole('worker', `worker-${i + 1}`, {})),
    );
    const hostWorkers = await Promise.all(
      hostQueues.map((q) => spawnRole('worker', `host-worker-${q}`, {}, ['--task-queue', q])),
    );
    const sso = Object.fromEntries(optionalApiVars.flatMap((v) => (process.env[v] ? [[v, process.env[v]]] : [])));
    const apiArgs = (i: number) => ({ ...sso, RUNBOOK_API_PORT: String(apiPort + i) });
    const apis = await Promise.all(apiUrls.map((_, i) => spawnRole('api', `api-${i + 1}`, apiArgs(i))));
    log(`Cluster processes up: ${started.map((s) => `${s.name} (pid ${s.child.pid})`).join(', ')}; logs in ${logs}`);

    const cluster: Cluster = {
      temporal,
      temporalEnv,
      apiUrls,
      workers,
      hostWorkers,
      apis,
      targetsFile: config.targetsFile,
      devTokensFile: keys.devTokensFile,
      payloadKeyFile: process.env.RUNBOOK_PAYLOAD_KEY ? undefined : path.join(dir, 'payload-key'),
      async restartWorker(i) {
        await workers[i]!.stop();
        workers[i] = await spawnRole('worker', `worker-${i + 1}`, {});
        return workers[i];
      },
      async restartApi(i) {
        await apis[i]!.stop();
        apis[i] = await spawnRole('api', `api-${i + 1}`, apiArgs(i));
        return apis[i];
      },
      async stop() {
        await Promise.all(apis.map((s) => s.stop()));
        await Promise.all([...workers, ...hostWorkers].map((s) => s.stop()));
        await temporal.stop();
      },
    };
    return cluster;
  } catch (err) {
    // Also the siblings of the one that failed, still starting (not in `started` yet).
    await killAllServices();
    await temporal.stop();
    throw err;
  }
}

/** The cluster's keys: the configured ones, else development ones kept in the cluster's directory. */
function clusterKeys(config: Config, dir: string) {
  let tokensFile = config.tokensFile;
  let devTokensFile: string | undefined;
  if (!tokensFile) {
    // The same development identities as `npm start` (.data/dev-tokens.json).
    const dev = ensureDevTokens(config.dataDir);
    tokensFile = dev.tokensFile;
    devTokensFile = dev.plainFile;
  }
  const decision = config.decisionKey
    ? { privateKey: config.decisionKey, publicKey: config.decisionPublicKey! }
    : ensureDevDecisionKey(config.dataDir);
  return {
    tokensFile,
    devTokensFile,
    decisionKey: decision.privateKey,
    decisionPublicKey: decision.publicKey,
    payloadKey: process.env.RUNBOOK_PAYLOAD_KEY ?? devPayloadKey(dir),
  };
}

/** Payloads are encrypted in the production shape; a development key is made once. */
function devPayloadKey(dir: string): string {
  const file = path.join(dir, 'payload-key');
  if (!existsSync(file)) writeFileSync(file, `cluster:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** The databases a cluster with this prefix owns (Temporal's two, the APIs' state). */
export function clusterDatabases(prefix: string): string[] {
  return [`${prefix}_temporal`, `${prefix}_temporal_visibility`, `${prefix}_api_state`];
}

export function postgresUrl(
  p: { host: string; port: number; user: string; password?: string },
  database: string,
): string {
  const auth = p.password
    ? `${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}`
    : encodeURIComponent(p.user);
  return `postgres://${auth}@${p.host}:${p.port}/${database}`;
}

async function ensureDatabase(
  p: { host: string; port: number; user: string; password?: string },
  database: string,
): Promise<void> {
  const client = new pg.Client({
    host: p.host,
    port: p.port,
    user: p.user,
    password: p.password,
    database: 'postgres',
  });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
