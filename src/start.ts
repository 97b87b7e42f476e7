import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { installRuntime } from './metrics/runtime.js';
import { newRegistry, serveMetrics } from './metrics/server.js';
import { ensureDevTokens } from './api/auth.js';
import { startApi } from './api/main.js';
import { codecFromEnv } from './codec.js';
import { ensureDevDecisionKey } from './keys.js';
import { loadConfig, temporalAddress } from './config.js';
import { startDevServer, type DevServer } from './temporal/devserver.js';
import { TargetRegistry } from './targets.js';
import { startTracing } from './tracing/index.js';
import { resolveTemporalCli } from './temporal/cli.js';
import { isMain, runMain } from './util/main.js';
import { privateDirSync, privateFileSync } from './util/private-fs.js';
import { startWorker } from './worker.js';

/**
 * `npm start`: the Temporal dev server (unless TEMPORAL_ADDRESS points at one), the worker and the
 * API, in that order; Ctrl-C stops them in reverse. State persists in .data/temporal.db, so runs
 * in flight resume on the next start.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  // We take Ctrl-C ourselves, not the SDK's runtime: in a terminal it arrives twice (from the
  // terminal and, under a wrapper, relayed again), and a second SIGINT with no handler would end this process
  // before the dev server (its own process group) is stopped, leaving it running on its ports.
  const sdkMetrics = await installRuntime(
    { logger: new DefaultLogger(config.logLevel.toUpperCase() as 'WARN'), shutdownSignals: [] },
    config.metrics !== undefined,
  );
  let stopping = 0;
  let stop = () => undefined as void;
  // SIGHUP too (the terminal closed): the dev server, in its own group, would otherwise outlive us.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const) {
    process.on(signal, () => {
      stopping++;
      // A third signal: stop waiting. Exiting runs the hook that kills the dev server (src/temporal/devserver.ts).
      if (stopping > 2) process.exit(130);
      if (stopping > 1)
        return console.log(
          'Still stopping (the worker cancels its steps in flight; they resume on the next start). Once more to force.',
        );
      console.log('\nStopping the worker, then the API and the dev server…');
      stop();
    });
  }
  if (!process.env.RUNBOOK_TARGETS && config.targetsFile === 'targets.local.yaml') {
    console.log(
      "No runbooks.targets.yaml: using the shipped targets.local.yaml (this machine's PostgreSQL and Redis).",
    );
  }
  const targets = TargetRegistry.load(config.targetsFile); // a broken targets file stops us here, before anything starts
  privateDirSync(config.dataDir);
  let devTokens: string | undefined;
  if (!config.tokensFile) {
    const dev = ensureDevTokens(config.dataDir);
    config.tokensFile = dev.tokensFile;
    devTokens = dev.plainFile;
  }
  if (!config.decisionKey) {
    const key = ensureDevDecisionKey(config.dataDir);
    config.decisionKey = key.privateKey;
    config.decisionPublicKey = key.publicKey;
  }

  const apiUrl = `http://${config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host}:${config.api.port}`;
  const encrypted = codecFromEnv() !== undefined; // a bad key stops us here too
  let server: DevServer | undefined;
  if (config.temporalAddress) {
    console.log(`Using the Temporal server at ${config.temporalAddress} (TEMPORAL_ADDRESS); no dev server started.`);
  } else {
    const cli = await resolveTemporalCli({
      env: { ...process.env, ...(config.temporalCliPath ? { TEMPORAL_CLI_PATH: config.temporalCliPath } : {}) },
      log: console.log,
    });
    const dbFile = path.join(config.dataDir, 'temporal.db');
    const logFile = path.join(config.dataDir, 'temporal.log');
    privateFileSync(logFile);
    console.log(`Starting the Temporal dev server (${cli}), state in ${dbFile}…`);
    server = await startDevServer({
      cli,
      dbFile,
      port: config.devServer.port,
      uiPort: config.devServer.uiPort,
      logFile: createWriteStream(logFile, { flags: 'a' }),
      // With payload encryption on, the UI decodes (and encodes its signals) through our API.
      extraArgs: encrypted ? ['--ui-codec-endpoint', `${apiUrl}/codec`] : [],
    });
  }

  // One scrape endpoint for both: the API's registry and the worker's (the SDK's) metrics.
  const registry = config.metrics && newRegistry('runbooks');
  const metrics =
    config.metrics && registry && (await serveMetrics({ ...config.metrics, registry, sdkUrl: sdkMetrics }));
  const tracing = await startTracing(config.tracing, 'durable-runbooks');
  const worker = await startWorker(config);
  const running = worker.run();
  stop = () => worker.shutdown();
  if (stopping) stop(); // Ctrl-C while we were starting
  const api = await startApi(config, registry);
  console.log(
    [
      '',
      'durable-runbooks is up:',
      `  Temporal UI   ${config.uiUrl}`,
      `  Temporal gRPC ${temporalAddress(config)}`,
      `  API           ${apiUrl}   (docs: ${apiUrl}/docs)`,
      `  Console       ${apiUrl}/console/   (${config.oidc ? `sign in with ${config.oidc.providerName} (${config.oidc.issuer}) or an API token` : 'sign in with an API token'})`,
      `  Targets       ${config.targetsFile}`,
      ...(metrics ? [`  Metrics       ${metrics.url}`] : []),
      ...(tracing ? [`  Traces        ${tracing.endpoint} (OTLP)`] : []),
      ...(encrypted
        ? [
            `  Payloads      encrypted (RUNBOOK_PAYLOAD_KEY); the UI reads them through ${apiUrl}/codec once you sign in to the console`,
          ]
        : []),
      ...(devTokens
        ? [
            `  API tokens    ${devTokens} (development: alice operator+approver, bob approver, carol viewer, alertmanager service)`,
          ]
        : []),
      ...(config.oidc
        ? []
        : [
            '  SSO           off: set RUNBOOK_OIDC_ISSUER, RUNBOOK_OIDC_CLIENT_ID and RUNBOOK_OIDC_ROLES to sign people in with your OpenID provider (README, "Single sign-on")',
          ]),
      '',
      `Try: npx runbook start db-access --target ${targets.names()[0] ?? '<target>'}`,
      'Ctrl-C stops the API, the worker and the dev server.',
    ].join('\n'),
  );

  // Ctrl-C shuts the worker down gracefully (in-flight steps finish or are cancelled); we follow it down.
  await running;
  console.log('Worker stopped; closing the API and the dev server…');
  await api.close();
  await metrics?.close();
  await tracing?.shutdown();
  await worker.connection?.close();
  await server?.stop();
  console.log('Stopped.');
}

if (isMain(import.meta.url)) runMain(main);
