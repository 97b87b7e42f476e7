import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { decodePayloads, registerSecrets } from './secrets.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { execa } from 'execa';
import pg from 'pg';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { RunbookClient } from '../../src/client.js';
import { TargetRegistry } from '../../src/targets.js';
import type { Links } from '../../src/activities/notify.js';
import { publicKeyOf } from '../../src/contract/signing.js';
import { createWorker } from '../../src/worker.js';
import { serverOptions } from './temporal.js';

/** Shared test plumbing: unique databases, targets files, task queues and workers per test. */

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const fixtureApp = path.join(repoRoot, 'test/fixtures/gestiq-lite');
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase();
}

export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  database: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ ...PG, database });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function createDatabase(prefix = 'rbtest'): Promise<string> {
  const name = uniqueName(prefix);
  await sql('postgres', `create database ${name}`);
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await sql('postgres', `drop database if exists ${name} with (force)`);
}

/** Runs the fixture app's alembic against `database`, as the app's own deploy would. */
export async function alembic(database: string, args: string[], appDir = fixtureApp) {
  return execa('/usr/bin/python3', ['-m', 'alembic', ...args], {
    cwd: appDir,
    env: { DATABASE_URL: `postgresql+psycopg2://${PG.user}@${PG.host}:${PG.port}/${database}` },
  });
}

export function tmpDir(prefix = 'runbooks-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes a targets file (YAML) and returns its path. Tests start runs with the client directly,
 * as the Temporal UI would: each target allows unsigned starts unless its policy says otherwise.
 */
export function writeTargets(targets: Record<string, unknown>, dir = tmpDir()): string {
  const file = path.join(dir, 'targets.yaml');
  const withPolicy = Object.fromEntries(
    Object.entries(targets).map(([name, t]) => {
      const spec = t as { policy?: Record<string, unknown> };
      return [name, { ...spec, policy: { unsignedStarts: 'allow', ...spec.policy } }];
    }),
  );
  writeFileSync(file, stringify({ targets: withPolicy }));
  return file;
}

/** A PostgreSQL target on the machine's server, alembic dir = the fixture app. */
export function pgTarget(database: string, extra: Record<string, unknown> = {}) {
  return { postgres: { ...PG, database }, alembic: { dir: fixtureApp }, ...extra };
}

export interface TestRig {
  taskQueue: string;
  /** Unsigned, like the temporal CLI or the Temporal UI. */
  client: RunbookClient;
  /** Signs its decisions, like the API (only when startRig got a signing key). */
  signed: RunbookClient;
  worker: Worker;
  stop(): Promise<void>;
}

/** A worker on a fresh task queue plus a client for it, against the run's shared dev server. */
export async function startRig(
  targetsFile: string,
  opts: {
    env?: NodeJS.ProcessEnv;
    address?: string;
    signingKey?: string;
    links?: Links;
    workflowsPath?: string;
    taskQueue?: string;
    dataConverter?: DataConverter;
    dataDir?: string;
  } = {},
): Promise<TestRig> {
  const address = opts.address ?? inject('temporalAddress');
  const taskQueue = opts.taskQueue ?? uniqueName('tq');
  const env = opts.env ?? process.env;
  // What the test hands the worker as a credential is scanned for in every history at the end.
  registerSecrets('decision signing key', opts.signingKey);
  for (const [k, v] of Object.entries(opts.env ?? {}))
    if (/PASSWORD|SECRET|TOKEN|KEY/.test(k) && v !== process.env[k]) registerSecrets(k, v);
  const server = serverOptions(address);
  const nativeConnection = await NativeConnection.connect(server);
  const worker = await createWorker({
    connection: nativeConnection,
    address: server,
    namespace: 'default',
    taskQueue,
    targets: TargetRegistry.load(targetsFile, env),
    ...(opts.workflowsPath
      ? { workflowsPath: opts.workflowsPath }
      : { workflowBundle: { codePath: inject('workflowBundlePath') } }),
    decisionPublicKey: opts.signingKey && publicKeyOf(opts.signingKey),
    links: opts.links,
    dataDir: opts.dataDir ?? tmpDir('runbooks-data-'),
    dataConverter: opts.dataConverter,
  });
  const running = worker.run();
  const connection = await Connection.connect(server);
  const clientFor = (signingKey?: string) =>
    new RunbookClient(new Client({ connection, dataConverter: opts.dataConverter }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://localhost:8233',
      targets: () => TargetRegistry.load(targetsFile, env),
      signingKey,
    });
  const client = clientFor();
  return {
    taskQueue,
    client,
    signed: clientFor(opts.signingKey),
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** A run's whole history as text, payloads decoded (base64 of JSON in the export): what a secret scan must read. */
export async function historyText(client: RunbookClient, id: string): Promise<string> {
  return JSON.stringify(
    decodePayloads(JSON.parse(historyToJSON(await client.temporal.workflow.getHandle(id).fetchHistory()))),
  );
}

/** Waits for a run to close and returns its view (the result, or the failure message). */
export async function finished(client: RunbookClient, id: string) {
  await client.temporal.workflow
    .getHandle(id)
    .result()
    .catch(() => undefined);
  return client.status(id);
}

/** Waits for a gate to open; fails at once, with the run's error, if the run ends first. */
export async function gateOpened(client: RunbookClient, id: string, gate: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await client.status(id);
    if (run.pendingGates.some((g) => g.gate === gate)) return;
    if (run.status !== 'running' && run.status !== 'waiting')
      throw new Error(
        `Run ${id} ended (${run.status}) before gate ${gate} opened: ${run.error ?? JSON.stringify(run.result)}`,
      );
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for gate ${gate} of ${id}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
