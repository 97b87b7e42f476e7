import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectionOptions,
  startTemporalCluster,
  type TemporalCluster,
  type TlsFiles,
} from '../../src/cluster/temporal.js';
import { ensureClusterCerts } from '../../src/cluster/tls.js';
import { searchAttributeKeys } from '../../src/contract/search-attributes.js';
import { resolveTemporalServer, type TemporalServerInstall } from '../../src/temporal/server.js';
import { dropDatabase, tmpDir, uniqueName } from '../support/harness.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/wait.js';
import { parkedUntilReleased, release, greet } from './workflows.js';

/**
 * The production-shape Temporal server (src/cluster/temporal.ts) for real: built from the Go
 * module proxy if missing, on PostgreSQL databases of its own, mTLS required on the frontend.
 */

const dir = tmpDir('runbooks-cluster-');
const databases = { persistence: uniqueName('rbtemporal'), visibility: uniqueName('rbtemporal_vis') };
const taskQueue = 'cluster-lane';
let install: TemporalServerInstall;
let uiPort: number | undefined;
let cluster: TemporalCluster;
let worker: Worker;
let workerRun: Promise<void>;
let connection: Connection;
let client: Client;

const start = (ports?: TemporalCluster['ports']) =>
  startTemporalCluster({
    dir: path.join(dir, 'temporal'),
    install,
    databases,
    ports,
    ui: uiPort ? { port: uiPort } : undefined,
    log: (l) => console.log(l),
  });

beforeAll(async () => {
  install = await resolveTemporalServer({ log: (l) => console.log(l) });
  if (install.uiServer) uiPort = await freePort();
  else console.log(`No Temporal UI server in this lane: ${install.uiServerMissing}`);
  cluster = await start();
  connection = await Connection.connect(connectionOptions(cluster.address, cluster.tlsFor('api')));
  client = new Client({ connection, namespace: cluster.namespace });
  const workerConnection = await NativeConnection.connect(connectionOptions(cluster.address, cluster.tlsFor('worker')));
  worker = await Worker.create({
    connection: workerConnection,
    namespace: cluster.namespace,
    taskQueue,
    workflowsPath: new URL('./workflows.ts', import.meta.url).pathname,
  });
  workerRun = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun?.catch(() => undefined);
  await connection?.close();
  await cluster?.stop();
  for (const db of Object.values(databases)) await dropDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

/** A raw TLS handshake plus the HTTP/2 preface: the alert the server sends is the reason it refuses. */
function handshake(address: string, caFile: string, client?: { certFile: string; keyFile: string }): Promise<string> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port: Number(port),
      servername: 'localhost',
      ca: readFileSync(caFile),
      ALPNProtocols: ['h2'],
      ...(client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {}),
    });
    socket.on('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.on('data', () => (resolve('accepted'), socket.destroy()));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('close', () => resolve('closed'));
  });
}

async function describeDefault(
  address: string,
  files: Omit<TlsFiles, 'certFile' | 'keyFile'> & Partial<TlsFiles>,
): Promise<void> {
  const conn = await Connection.connect({
    address,
    connectTimeout: 3_000,
    tls: {
      serverNameOverride: files.serverName,
      serverRootCACertificate: readFileSync(files.caFile),
      ...(files.certFile && files.keyFile
        ? { clientCertPair: { crt: readFileSync(files.certFile), key: readFileSync(files.keyFile) } }
        : {}),
    },
  });
  try {
    await conn.workflowService.describeNamespace({ namespace: 'default' });
  } finally {
    await conn.close();
  }
}

describe('the production-shape Temporal server', () => {
  it('refuses a client that has no client certificate', async () => {
    const { caFile, serverName } = cluster.tls;
    await expect(describeDefault(cluster.address, { caFile, serverName })).rejects.toThrow();
    expect(await handshake(cluster.address, caFile)).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  });

  it('refuses a client certificate signed by another CA', async () => {
    const other = await ensureClusterCerts(path.join(dir, 'other-ca'), { commonName: 'not the cluster CA' });
    const { caFile, serverName } = cluster.tls;
    await expect(describeDefault(cluster.address, { caFile, serverName, ...other.clients.worker })).rejects.toThrow();
    expect(await handshake(cluster.address, caFile, other.clients.worker)).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  });

  it('refuses a plaintext client', async () => {
    await expect(
      Connection.connect({ address: cluster.address, connectTimeout: 3_000 }).then((c) => c.close()),
    ).rejects.toThrow();
  });

  it('accepts the cluster certificate of every kind of client', async () => {
    for (const kind of ['worker', 'api', 'ui', 'cli'] as const) {
      await expect(describeDefault(cluster.address, cluster.tlsFor(kind))).resolves.toBeUndefined();
      expect(await handshake(cluster.address, cluster.tls.caFile, cluster.tlsFor(kind))).toBe('accepted');
    }
  });

  it('has the namespace, with a retention of two days, and the runbooks’ search attributes', async () => {
    const ns = await connection.workflowService.describeNamespace({ namespace: cluster.namespace });
    expect(ns.namespaceInfo?.name).toBe('default');
    expect(Number(ns.config?.workflowExecutionRetentionTtl?.seconds)).toBe(2 * 86_400);
    const attrs = await connection.operatorService.listSearchAttributes({ namespace: cluster.namespace });
    for (const key of searchAttributeKeys) expect(Object.keys(attrs.customAttributes)).toContain(key.name);
  });

  it('serves the Temporal UI, which reaches the frontend with a certificate of its own', async (ctx) => {
    if (!cluster.uiUrl) ctx.skip(`the UI server was not built: ${install.uiServerMissing}`);
    const namespace = await fetch(`${cluster.uiUrl}/api/v1/namespaces/default`);
    expect(namespace.status).toBe(200);
    expect(((await namespace.json()) as { namespaceInfo: { name: string } }).namespaceInfo.name).toBe('default');
    const page = await fetch(`${cluster.uiUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
  });

  it('runs a workflow a client starts, on a worker connected with its certificate', async () => {
    const result = await client.workflow.execute(greet, {
      taskQueue,
      workflowId: uniqueName('greet'),
      args: ['cluster'],
    });
    expect(result).toBe('hello, cluster');
  });

  it('finishes a workflow parked on a signal after the server is killed and started again on the same databases', async () => {
    const handle = await client.workflow.start(parkedUntilReleased, { taskQueue, workflowId: uniqueName('parked') });
    // Parked = its first workflow task is done and it waits for the signal.
    await until(
      async () => (await handle.fetchHistory()).events?.some((e) => e.workflowTaskCompletedEventAttributes) ?? false,
      'the workflow to park',
    );
    const { ports, pid } = cluster;
    await cluster.kill();
    expect(() => process.kill(pid, 0)).toThrow();

    cluster = await start(ports);
    await handle.signal(release, { by: 'on-call' });
    expect(await handle.result()).toBe('released by on-call');
  });
});
