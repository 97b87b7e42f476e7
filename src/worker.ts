import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/index.js';
import type { DataConverter } from '@temporalio/common';
import { autoHeartbeatInterceptors } from './auto-heartbeat.js';
import { activityMetricsInterceptors } from './metrics/activity.js';
import { installRuntime } from './metrics/runtime.js';
import { newRegistry, serveMetrics } from './metrics/server.js';
import { chaosInterceptors } from './util/chaos.js';
import { dataConverterFromEnv } from './codec.js';
import type { Links } from './activities/notify.js';
import { loadConfig, type Config } from './config.js';
import {
  connectionOptions,
  describeConnection,
  prepareTemporal,
  type TemporalConnectionOptions,
} from './temporal/connection.js';
import { TargetRegistry } from './targets.js';
import {
  startTracing,
  tracingActivityInterceptors,
  tracingClientInterceptors,
  tracingSinks,
  workflowInterceptorModules,
} from './tracing/index.js';
import { jsonLogger } from './util/log.js';
import { isMain, runMain } from './util/main.js';
import { workflowsPath } from './workflows-path.js';

/** The worker: every runbook workflow and activity, on the main queue or a target host's queue. */

export { workflowsPath };

/**
 * `npm run build` bundles the workflows beside the compiled worker (scripts/build.ts), once plain
 * and once with the failure converter: a bundle's failure converter applies whether or not the
 * worker has a payload key, and without one it would only hide failures' messages from the UI.
 */
export const prebuiltBundles = { plain: 'workflow-bundle.js', encrypted: 'workflow-bundle.encrypted.js' } as const;

/** The bundle `npm run build` made beside this module for this data converter; none from source. */
export function prebuiltBundle(dataConverter: DataConverter | undefined): string | undefined {
  const file = fileURLToPath(
    new URL(prebuiltBundles[dataConverter?.failureConverterPath ? 'encrypted' : 'plain'], import.meta.url),
  );
  return existsSync(file) ? file : undefined;
}

export interface WorkerDeps {
  connection: NativeConnection;
  /** The server (an address, or full options with TLS), for the client the target-lock activities use. */
  address: string | TemporalConnectionOptions;
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
  /** Crash tests only: RUNBOOK_CHAOS (see src/util/chaos.ts). */
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
    interceptors: {
      // Tracing outermost: a step's span covers all of it. Auto-heartbeat before chaos: chaos, inside it, counts only the activity's own beats (beat:<activity>:<n>).
      activity: [
        ...tracingActivityInterceptors(),
        ...activityMetricsInterceptors(),
        ...autoHeartbeatInterceptors(),
        ...(deps.chaos ? chaosInterceptors(deps.chaos) : []),
      ],
      // A prebuilt bundle carries them already (bundleWorkflowCode({ workflowInterceptorModules })).
      ...(deps.workflowBundle ? {} : { workflowModules: workflowInterceptorModules }),
    },
    sinks: tracingSinks(),
    // sdk-core forwards at most one heartbeat per min(0.8 × heartbeat timeout, this). Left at 8 s
    // for our 10 s timeouts, one late beat would time a live step out; at 1 s the beats go out at
    // the auto-heartbeat's pace (a quarter of the timeout), and only bursts are collapsed.
    maxHeartbeatThrottleInterval: '1 second',
    // A run's next task goes first to the worker that has it cached; if that worker is gone (killed,
    // its host lost) the server hands the task to any worker after this long. The SDK's 10 s would
    // add 10 s to every run a dead worker held; a live worker that misses 2 s only costs a replay.
    stickyQueueScheduleToStartTimeout: '2 seconds',
    ...(deps.dataConverter ? { dataConverter: deps.dataConverter } : {}),
    ...(deps.workflowBundle
      ? { workflowBundle: deps.workflowBundle }
      : { workflowsPath: deps.workflowsPath ?? workflowsPath }),
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

function lazyClient(
  server: string | TemporalConnectionOptions,
  namespace: string,
  dataConverter?: DataConverter,
): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () =>
    (client ??= Connection.connect(typeof server === 'string' ? { address: server } : server).then(
      (connection) => new Client({ connection, namespace, dataConverter, interceptors: tracingClientInterceptors() }),
    ));
}

/**
 * With payload encryption on, a bundle made ahead must carry the failure converter (src/codec.ts):
 * without it, every failed run's message and stack trace would reach the history in plaintext.
 */
export function checkWorkflowBundle(codePath: string, dataConverter: DataConverter | undefined): void {
  if (!dataConverter?.failureConverterPath) return;
  const converter = path.basename(dataConverter.failureConverterPath);
  if (!readFileSync(codePath, 'utf8').includes(converter)) {
    throw new Error(
      `RUNBOOK_WORKFLOW_BUNDLE ${codePath} was bundled without ${converter}, so with RUNBOOK_PAYLOAD_KEY set its runs' failure messages would stay plaintext: bundle it with bundleWorkflowCode({ workflowsPath, failureConverterPath }) (exported by src/codec.ts), or unset RUNBOOK_WORKFLOW_BUNDLE.`,
    );
  }
}

/** Loads the targets file and connects; used by `npm run worker` and `npm start`. */
export async function startWorker(
  config: Config,
  opts: { taskQueue?: string; log?: (line: string) => void } = {},
): Promise<Worker> {
  const log = opts.log ?? console.log;
  const targets = TargetRegistry.load(config.targetsFile);
  // Certificates are read (and checked) here, before anything connects: a bad file is a start-up error naming its variable.
  const server = connectionOptions(config);
  await prepareTemporal(config, log);
  const dataConverter = dataConverterFromEnv();
  const bundle = process.env.RUNBOOK_WORKFLOW_BUNDLE || prebuiltBundle(dataConverter);
  if (bundle) checkWorkflowBundle(bundle, dataConverter);
  if (
    bundle &&
    !readFileSync(bundle, 'utf8').includes(
      path.basename(workflowInterceptorModules[0]!, path.extname(workflowInterceptorModules[0]!)),
    )
  ) {
    // Warned, not refused: a worker cannot know whether some API traces. A traced run's history depends on
    // these interceptors (its update handlers run inside a span): replayed without them, it is nondeterministic.
    log(
      `RUNBOOK_WORKFLOW_BUNDLE ${bundle} was bundled without the tracing interceptors: a run started by a traced API or CLI (OTEL_EXPORTER_OTLP_ENDPOINT) would fail to replay on this worker. Bundle it with bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }) (src/tracing/index.ts).`,
    );
  }
  const connection = await NativeConnection.connect(server);
  const taskQueue = opts.taskQueue ?? config.taskQueue;
  const worker = await createWorker({
    connection,
    address: server,
    namespace: config.namespace,
    taskQueue,
    targets,
    mainTaskQueue: config.taskQueue,
    decisionPublicKey: config.decisionPublicKey,
    dataDir: config.dataDir,
    chaos: process.env.RUNBOOK_CHAOS || undefined,
    // A bundle made once by bundleWorkflowCode (a release, or a test run): starts in a second, not ten.
    workflowBundle: bundle ? { codePath: bundle } : undefined,
    dataConverter,
    links: { api: config.publicUrl, temporalUi: config.uiUrl, namespace: config.namespace },
  });
  if (process.env.RUNBOOK_CHAOS)
    log(`RUNBOOK_CHAOS=${process.env.RUNBOOK_CHAOS}: this worker will KILL ITSELF at that point (crash tests only).`);
  if (!config.decisionPublicKey)
    log(
      'RUNBOOK_DECISION_PUBLIC_KEY is not set: no decision can be verified as signed; targets that deny unsigned decisions will refuse every decision.',
    );
  log(
    `Worker polling task queue "${taskQueue}" on ${describeConnection(config)} (targets: ${targets.names().join(', ')} from ${config.targetsFile}; workflows: ${bundle ?? `bundled from ${workflowsPath}`})`,
  );
  return worker;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { values } = parseArgs({ options: { 'task-queue': { type: 'string' } } });
    const config = loadConfig();
    // The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: in-flight activities finish or are cancelled.
    // JSON logs (pino) for the SDK's messages and the runs' own, with the targets' secret values redacted.
    const targets = TargetRegistry.load(config.targetsFile);
    const secrets = [
      ...targets.names().flatMap((n) => targets.secretValues(n)),
      config.temporal.apiKey,
      config.decisionKey,
    ].filter((s): s is string => typeof s === 'string');
    const sdkMetrics = await installRuntime(
      { logger: jsonLogger({ level: config.logLevel, secrets: () => secrets }) },
      config.metrics !== undefined,
    );
    const metrics =
      config.metrics &&
      (await serveMetrics({ ...config.metrics, registry: newRegistry('worker'), sdkUrl: sdkMetrics }));
    if (metrics) console.log(`Metrics: ${metrics.url}`);
    const tracing = await startTracing(config.tracing, 'runbook-worker');
    if (tracing) console.log(`Traces: ${tracing.endpoint}`);
    const worker = await startWorker(config, { taskQueue: values['task-queue'] });
    try {
      await worker.run();
    } finally {
      // Ctrl-C ends run(); the runs' last spans are still batched.
      await tracing?.shutdown();
    }
    await worker.connection?.close();
    await metrics?.close();
  });
}
