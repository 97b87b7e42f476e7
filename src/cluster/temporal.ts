import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { RunbookName } from '../contract/search-attributes.js';
import { resolveTemporalServer, type TemporalServerInstall } from '../temporal/server.js';
import { ensureNamespace, registerSearchAttributes } from '../temporal/setup.js';
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { Log } from '../util/go-build.js';
import { privateDirSync } from '../util/private-fs.js';
import { spawnServer, type ServerProcess } from './process.js';
import { choosePorts, CONFIG_ENV, writeServerConfig, type TemporalPorts } from './temporal-config.js';
import {
  DEFAULT_DATABASES,
  setupTemporalDatabases,
  type PostgresOptions,
  type TemporalDatabases,
} from './temporal-db.js';
import { startTemporalUi, type TemporalUi } from './temporal-ui.js';
import { ensureClusterCerts, type ClientName, type ClusterCerts } from './tls.js';

/**
 * The production shape of Temporal on one machine: the real server (not the dev server) on
 * PostgreSQL persistence and SQL visibility, mTLS on every connection, loopback only; the
 * namespace and our search attributes set up; optionally the Temporal UI server beside it.
 * Stop it and start it again on the same `dir` and databases, and every workflow carries on.
 */

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The name the frontend's certificate is verified against (the address is an IP). */
  serverName: string;
}

export interface TemporalClusterOptions {
  /** Config, log, pid file and (unless `certsDir`) the certificates: e.g. `.data/cluster/temporal`. */
  dir: string;
  /** Where the CA and certificates are made or reused; default `<dir>/tls`. */
  certsDir?: string;
  /** Default: resolved (built once, cached) with resolveTemporalServer(). */
  install?: TemporalServerInstall;
  /** Ports given are used, the rest picked free; pass `ports` of a previous start to keep them. */
  ports?: Partial<TemporalPorts>;
  postgres?: PostgresOptions;
  databases?: TemporalDatabases;
  /** Default `default`. */
  namespace?: string;
  /** How long closed workflows are kept; default '2 days'. */
  retention?: Duration;
  /** Whose client certificate `tls` names; default 'worker'. */
  client?: ClientName;
  /** Start the Temporal UI server on this loopback port (it must have been built), decoding payloads with the codec server at `codecEndpoint`. */
  ui?: { port: number; codecEndpoint?: string };
  /** Default '3 minutes': the first start sets up schemas on a machine that may be busy. */
  readyTimeout?: Duration;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  log?: Log;
}

export interface TemporalCluster {
  /** `127.0.0.1:<port>` of the frontend. */
  address: string;
  namespace: string;
  tls: TlsFiles;
  /** Every client's certificate, and the CA: hand `tlsFor('api')` to the API, and so on. */
  certs: ClusterCerts;
  tlsFor(client: ClientName): TlsFiles;
  ports: TemporalPorts;
  logFile: string;
  pid: number;
  uiUrl?: string;
  /** Graceful: SIGTERM (UI, then server), SIGKILL after the grace period. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would (crash tests). */
  kill(): Promise<void>;
}

export class TemporalClusterError extends Error {
  override name = 'TemporalClusterError';
}

export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const namespace = opts.namespace ?? 'default';
  privateDirSync(opts.dir);
  const install = opts.install ?? (await resolveTemporalServer({ log }));
  const certs = await ensureClusterCerts(opts.certsDir ?? path.join(opts.dir, 'tls'));
  const databases = opts.databases ?? DEFAULT_DATABASES;
  await setupTemporalDatabases(install.sqlTool, install.schemaDir, opts.postgres, databases);
  const ports = await choosePorts(opts.ports);
  writeServerConfig({
    dir: opts.dir,
    template: install.configTemplate,
    certs,
    ports,
    postgres: opts.postgres,
    databases,
    logLevel: opts.logLevel,
  });

  const server = spawnServer(
    install.server,
    ['--root', opts.dir, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'],
    {
      cwd: opts.dir,
      logFile: path.join(opts.dir, 'temporal-server.log'),
      pidFile: path.join(opts.dir, 'temporal-server.pid'),
      what: 'A Temporal server',
    },
  );
  const address = `127.0.0.1:${ports.frontend}`;
  const tlsFor = (client: ClientName): TlsFiles => ({
    caFile: certs.caFile,
    ...certs.clients[client],
    serverName: certs.serverName,
  });
  const tls = tlsFor(opts.client ?? 'worker');
  let ui: TemporalUi | undefined;
  try {
    const deadline = Date.now() + msToNumber(opts.readyTimeout ?? '3 minutes');
    const connection = await untilOk(`the Temporal server to answer on ${address}`, server, deadline, () =>
      connectReady(address, tls),
    );
    try {
      await setUpNamespace(connection, namespace, opts.retention ?? '2 days', { server, deadline, log, address });
    } finally {
      await connection.close();
    }
    if (opts.ui) ui = await startUiFor(opts.ui, opts.dir, install, address, tlsFor('ui'), namespace);
  } catch (err) {
    await ui?.stop();
    await server.kill();
    throw err;
  }
  log(
    `Temporal server ${address} (mTLS, PostgreSQL ${databases.persistence} + ${databases.visibility}), pid ${server.pid}, log ${server.logFile}`,
  );
  return {
    address,
    namespace,
    tls,
    certs,
    tlsFor,
    ports,
    logFile: server.logFile,
    pid: server.pid,
    uiUrl: ui?.url,
    async stop(graceMs) {
      await ui?.stop(graceMs);
      await server.stop(graceMs);
    },
    async kill() {
      await Promise.all([ui?.kill(), server.kill()]);
    },
  };
}

/** The namespace and our search attributes, registered if missing and usable before we return. */
async function setUpNamespace(
  connection: Connection,
  namespace: string,
  retention: Duration,
  at: { server: ServerProcess; deadline: number; log: Log; address: string },
): Promise<void> {
  const { server, deadline, log, address } = at;
  if (
    await untilOk(`namespace ${namespace}`, server, deadline, () => ensureNamespace(connection, namespace, retention))
  ) {
    log(`Registered namespace ${namespace} on ${address}`);
  }
  // A namespace just registered reaches the frontend's namespace cache a few seconds later.
  const added = await untilOk(`namespace ${namespace} to be usable`, server, deadline, () =>
    registerSearchAttributes(connection, namespace),
  );
  if (added.length > 0) log(`Registered search attributes on ${address}: ${added.join(', ')}`);
  // Search attributes, likewise: a query naming one of ours succeeds once they are usable, so
  // the first runbook started never meets "unknown search attribute".
  await untilOk(`the search attributes of ${namespace} to be usable`, server, deadline, () =>
    connection.workflowService.countWorkflowExecutions({ namespace, query: `${RunbookName.name} = 'readiness-probe'` }),
  );
}

async function startUiFor(
  ui: NonNullable<TemporalClusterOptions['ui']>,
  dir: string,
  install: TemporalServerInstall,
  address: string,
  tls: TlsFiles,
  namespace: string,
): Promise<TemporalUi> {
  if (!install.uiServer) {
    throw new TemporalClusterError(
      `The Temporal UI server was not built, so it cannot start on port ${ui.port}: ${install.uiServerMissing?.trim()}`,
    );
  }
  return startTemporalUi({
    binary: install.uiServer,
    dir: path.join(dir, 'ui'),
    port: ui.port,
    address,
    tls,
    namespace,
    codecEndpoint: ui.codecEndpoint,
  });
}

/** SDK connection options for a client of the cluster: for Connection.connect and NativeConnection.connect alike. */
export function connectionOptions(address: string, tls: TlsFiles): { address: string; tls: TLSConfig } {
  return {
    address,
    tls: {
      serverNameOverride: tls.serverName,
      serverRootCACertificate: readFileSync(tls.caFile),
      clientCertPair: { crt: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
    },
  };
}

/** Ready = a client with a certificate gets through TLS and the server answers namespace calls. */
async function connectReady(address: string, tls: TlsFiles): Promise<Connection> {
  const connection = await Connection.connect({ ...connectionOptions(address, tls), connectTimeout: 2_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
    return connection;
  } catch (err) {
    await connection.close();
    throw err;
  }
}

/** Retries `attempt` until it succeeds, the server exits, or the deadline passes (then the error has the server's log). */
async function untilOk<T>(
  what: string,
  server: ServerProcess,
  deadline: number,
  attempt: () => Promise<T>,
): Promise<T> {
  for (;;) {
    failIfExited(server);
    let last: string;
    try {
      return await attempt();
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new TemporalClusterError(
        `Timed out waiting for ${what} (last error: ${last}). The server's log (${server.logFile}) ends:\n${server.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function failIfExited(server: ServerProcess): void {
  const code = server.exitCode();
  if (code !== undefined) {
    throw new TemporalClusterError(
      `The Temporal server exited (code ${code}) before it was ready. Its log (${server.logFile}) ends:\n${server.tail()}`,
    );
  }
}
