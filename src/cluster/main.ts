import { loadConfig } from '../config.js';
import { isMain, runMain } from '../util/main.js';
import { startCluster } from './cluster.js';

/**
 * `npm run cluster`: the production shape on this machine (src/cluster/cluster.ts), with a banner
 * like `npm start`'s; Ctrl-C (or SIGTERM) stops the APIs, the workers, the UI and Temporal, in
 * that order. A second Ctrl-C while stopping does not cut the shutdown short.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (config.temporalAddress)
    throw new Error(
      '`npm run cluster` starts its own Temporal server: unset TEMPORAL_ADDRESS (and the TEMPORAL_TLS_* variables), or use `npm run worker` / `npm run api` against yours.',
    );
  let signals = 0;
  const control: { stop?: () => Promise<void> } = {};
  // SIGHUP too (the terminal closed): our children run in process groups of their own.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    process.on(signal, () => {
      signals++;
      // Before the cluster is up, or at a third signal: exit now; the exit hook SIGKILLs every child (src/cluster/processes.ts).
      if (!control.stop || signals > 2) process.exit(130);
      if (signals > 1)
        return console.log('Still stopping (each process gets 15 s before SIGKILL). Once more to force.');
      console.log('\nStopping the APIs, the workers, the UI and Temporal…');
      void control.stop().then(() => {
        console.log('Stopped.');
        process.exit(0);
      });
    });
  }
  const cluster = await startCluster({ config, uiPort: config.devServer.uiPort, log: console.log });
  control.stop = () => cluster.stop();
  const t = cluster.temporal;
  const api = cluster.apiUrls[0]!;
  console.log(
    [
      '',
      'durable-runbooks (production shape) is up:',
      `  Temporal UI   ${t.uiUrl ?? `not built (${t.uiMissing ?? 'see npm run temporal-server'}); use the temporal CLI with the variables below`}`,
      `  Temporal gRPC ${t.address} (mTLS; PostgreSQL persistence and visibility)`,
      ...cluster.apiUrls.map((url, i) => `API           ${url}   (replica ${i + 1}; docs: ${url}/docs)`),
      `  Console       ${api}/console/   (sessions shared by the replicas, in PostgreSQL)`,
      `  Workers       ${cluster.workers.length} on "${config.taskQueue}"${cluster.hostWorkers.length ? `, ${cluster.hostWorkers.length} on target host queues` : '; no target names a host task queue (taskQueue in the targets file), so no host worker'}`,
      `  Targets       ${cluster.targetsFile}`,
      ...(cluster.devTokensFile
        ? [
            `  API tokens    ${cluster.devTokensFile} (development: alice operator+approver, bob approver, carol viewer, alertmanager service)`,
          ]
        : []),
      '',
      'To use the CLI against it:',
      ...Object.entries(cluster.temporalEnv).map(([k, v]) => `  export ${k}=${v}`),
      ...(cluster.payloadKeyFile ? [`  export RUNBOOK_PAYLOAD_KEY=$(cat ${cluster.payloadKeyFile})`] : []),
      '  npx runbook ls',
      '',
      'Ctrl-C stops all of it.',
    ].join('\n'),
  );
  await new Promise(() => undefined); // until a signal
}

if (isMain(import.meta.url)) runMain(main);
