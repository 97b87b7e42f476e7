import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/index.js';
import type { DataConverter } from '@temporalio/common';
import { autoHeartbeatInterceptors } from './auto-heartbeat.js';
import { chaosInterceptors } from './chaos.js';
import { dataConverterFromEnv } from './codec.js';
import type { Links } from './activities/notify.js';
import { loadConfig, temporalAddress, type Config } from './config.js';
import { searchAttributeKeys } from './search-attributes.js';
import { TargetRegistry } from './targets.js';
import { isMain, runMain } from './util/main.js';

/** The worker: every runbook workflow and activity, on the main queue or a target host's queue. */

export const workflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

export interface WorkerDeps {
  connection: NativeConnection;
  /** The server's address, for the client the target-lock activities use. */
  address: string;
  /** The main task queue, where lock workflows run (default: this worker's). */
  mainTaskQueue?: string;
  namespace: string;
  taskQueue: string;
  targets: TargetRegistry;
  decisionPublicKey?: string;
  links?: Links;
  /** Where dumps go when a target names no backups.dir. */
  dataDir?: string;
  /** Tests bundle workflows once and pass the bundle; otherwise they are bundled from source. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Another workflows module (test fixtures); default: every runbook. */
  workflowsPath?: string;
  identity?: string;
  /** Crash tests only: RUNBOOK_CHAOS (see src/chaos.ts). */
  chaos?: string;
  /** Runs kept in memory (parked runs beyond it are replayed when they wake). */
  maxCachedWorkflows?: number;
  /** Payload encryption (src/codec.ts), for the worker and the client its lock activities use. */
  dataConverter?: DataConverter;
}

export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...(deps.identity ? { identity: deps.identity } : {}),
    ...(deps.maxCachedWorkflows ? { maxCachedWorkflows: deps.maxCachedWorkflows } : {}),
    // Auto-heartbeat first: chaos, inside it, counts only the activity's own beats (beat:<activity>:<n>).
    interceptors: { activity: [...autoHeartbeatInterceptors(), ...(deps.chaos ? chaosInterceptors(deps.chaos) : [])] },
    // sdk-core forwards at most one heartbeat per min(0.8 × heartbeat timeout, this). Left at 8 s
    // for our 10 s timeouts, one late beat would time a live step out; at 1 s the beats go out at
    // the auto-heartbeat's pace (a quarter of the timeout), and only bursts are collapsed.
    maxHeartbeatThrottleInterval: '1 second',
    ...(deps.dataConverter ? { dataConverter: deps.dataConverter } : {}),
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: deps.workflowsPath ?? workflowsPath }),
    activities: createActivities({
      targets: deps.targets,
      decisionPublicKey: deps.decisionPublicKey,
      links: deps.links,
      dataDir: deps.dataDir,
      temporal: lazyClient(deps.address, deps.namespace, deps.dataConverter),
      lockTaskQueue: deps.mainTaskQueue ?? deps.taskQueue,
    }),
  });
}

function lazyClient(address: string, namespace: string, dataConverter?: DataConverter): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () => (client ??= Connection.connect({ address }).then((connection) => new Client({ connection, namespace, dataConverter })));
}

/**
 * A server we did not start (TEMPORAL_ADDRESS) needs our search attributes registered through
 * the operator service; a dev server gets them as start flags.
 */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = { ...existing.customAttributes, ...existing.systemAttributes };
    const missing = searchAttributeKeys.map((k) => k.name).filter((name) => !(name in known));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
      });
    }
    return missing;
  } finally {
    await connection.close();
  }
}

/**
 * With payload encryption on, a bundle made ahead must carry the failure converter (src/codec.ts):
 * without it, every failed run's message and stack trace would reach the history in plaintext.
 */
export function checkWorkflowBundle(codePath: string, dataConverter: DataConverter | undefined): void {
  if (!dataConverter?.failureConverterPath) return;
  const converter = path.basename(dataConverter.failureConverterPath);
  if (!readFileSync(codePath, 'utf8').includes(converter)) {
    throw new Error(`RUNBOOK_WORKFLOW_BUNDLE ${codePath} was bundled without ${converter}, so with RUNBOOK_PAYLOAD_KEY set its runs' failure messages would stay plaintext: bundle it with bundleWorkflowCode({ workflowsPath, failureConverterPath }) (exported by src/codec.ts), or unset RUNBOOK_WORKFLOW_BUNDLE.`);
  }
}

/** Loads the targets file and connects; used by `npm run worker` and `npm start`. */
export async function startWorker(config: Config, opts: { taskQueue?: string; log?: (line: string) => void } = {}): Promise<Worker> {
  const log = opts.log ?? console.log;
  const targets = TargetRegistry.load(config.targetsFile);
  const address = temporalAddress(config);
  if (config.temporalAddress) {
    const added = await ensureSearchAttributes(address, config.namespace);
    if (added.length > 0) log(`Registered search attributes on ${address}: ${added.join(', ')}`);
  }
  const dataConverter = dataConverterFromEnv();
  const bundle = process.env.RUNBOOK_WORKFLOW_BUNDLE;
  if (bundle) checkWorkflowBundle(bundle, dataConverter);
  const connection = await NativeConnection.connect({ address });
  const taskQueue = opts.taskQueue ?? config.taskQueue;
  const worker = await createWorker({
    connection, address, namespace: config.namespace, taskQueue, targets, mainTaskQueue: config.taskQueue,
    decisionPublicKey: config.decisionPublicKey,
    dataDir: config.dataDir,
    chaos: process.env.RUNBOOK_CHAOS || undefined,
    // A bundle made once by bundleWorkflowCode (a release, or a test run): starts in a second, not ten.
    workflowBundle: bundle ? { codePath: bundle } : undefined,
    dataConverter,
    links: { api: config.publicUrl, temporalUi: config.uiUrl, namespace: config.namespace },
  });
  if (process.env.RUNBOOK_CHAOS) log(`RUNBOOK_CHAOS=${process.env.RUNBOOK_CHAOS}: this worker will KILL ITSELF at that point (crash tests only).`);
  if (!config.decisionPublicKey) log('RUNBOOK_DECISION_PUBLIC_KEY is not set: no decision can be verified as signed; targets that deny unsigned decisions will refuse every decision.');
  log(`Worker polling task queue "${taskQueue}" on ${address} (targets: ${targets.names().join(', ')} from ${config.targetsFile})`);
  return worker;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { values } = parseArgs({ options: { 'task-queue': { type: 'string' } } });
    const config = loadConfig();
    const worker = await startWorker(config, { taskQueue: values['task-queue'] });
    // The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: in-flight activities finish or are cancelled.
    await worker.run();
    await worker.connection?.close();
  });
}
