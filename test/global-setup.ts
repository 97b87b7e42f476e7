import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../src/config.js';
import { startDevServer } from '../src/devserver.js';
import { connectionOptions, describeConnection, type TemporalConnectionOptions } from '../src/temporal-connection.js';
import { resolveTemporalCli } from '../src/temporal-cli.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';
import { workflowsPath } from '../src/worker.js';
import { freePort } from './support/ports.js';
import { decodePayloads, registeredSecrets } from './support/secrets.js';

/** One dev server and one workflow bundle for the whole run, handed to tests with provide(). */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-test-'));
  // Inherited by test files, their Celery workers and anything those start: see killLeftovers().
  process.env.RUNBOOKS_TEST_RUN = path.basename(dir);
  process.env.RUNBOOKS_TEST_SECRETS = path.join(dir, 'secrets');
  // Activities start children with a small environment (src/activities/child-env.ts): the marker
  // goes too, and the fixture apps the command driver starts keep the machine's Python settings.
  process.env.RUNBOOK_CHILD_ENV = 'RUNBOOKS_TEST_RUN,PYTHONDONTWRITEBYTECODE,PYTHONUNBUFFERED';
  rmSync('.data/secret-scan.json', { force: true });
  const cli = await resolveTemporalCli({ log: (l) => console.log(l) });
  // TEMPORAL_ADDRESS (with the TLS variables): the run uses that server (the cluster lane) instead of a dev server of its own.
  const existing = process.env.TEMPORAL_ADDRESS;
  const [server, bundle] = await Promise.all([
    existing ? { address: existing, stop: async () => undefined } : startDevServer({ cli, port: await freePort(), headless: true }),
    bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietLogger }),
  ]);
  if (existing) console.log(`Tests use the Temporal server at ${describeConnection(loadConfig())} (TEMPORAL_ADDRESS)`);
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('temporalCli', cli);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    // Before killLeftovers: the dev server carries the run's marker too.
    const scan = await scanHistories(existing ? connectionOptions(loadConfig()) : { address: server.address }, process.env.RUNBOOKS_TEST_SECRETS!).catch((err: Error) => ({ error: err.message, histories: 0, secrets: 0, hits: [] }));
    killLeftovers(`RUNBOOKS_TEST_RUN=${path.basename(dir)}`);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync('.data', { recursive: true });
    writeFileSync('.data/secret-scan.json', JSON.stringify(scan, null, 2));
    console.log(`secret scan: ${scan.histories} histories, ${scan.secrets} registered secrets, ${scan.hits.length} hits${'error' in scan ? ` (scan failed: ${scan.error})` : ''}`);
    if (scan.hits.length || 'error' in scan) process.exitCode = 1; // vitest reports a teardown error but exits 0
    if (scan.hits.length || 'error' in scan) throw new Error(`Secret scan failed: ${'error' in scan ? scan.error : scan.hits.map((h) => `${h.label} in ${h.workflowId}`).join('; ')}`);
  };
}

/** Every history on the server, payloads decoded, searched for every registered secret. */
async function scanHistories(server: TemporalConnectionOptions, secretsDir: string) {
  const secrets = registeredSecrets(secretsDir);
  const connection = await Connection.connect(server);
  try {
    const client = new Client({ connection });
    const ids: Array<{ workflowId: string; runId: string }> = [];
    for await (const w of client.workflow.list()) ids.push({ workflowId: w.workflowId, runId: w.runId });
    const hits: Array<{ workflowId: string; label: string }> = [];
    for (let i = 0; i < ids.length; i += 16) {
      await Promise.all(ids.slice(i, i + 16).map(async ({ workflowId, runId }) => {
        const text = JSON.stringify(decodePayloads(JSON.parse(historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory()))));
        for (const s of secrets) if (text.includes(s.value)) hits.push({ workflowId, label: s.label });
      }));
    }
    return { histories: ids.length, secrets: secrets.length, hits };
  } finally {
    await connection.close();
  }
}

/**
 * Kills processes this run started and a failed test left behind (a Celery worker whose test
 * timed out before its afterAll), found by the marker in their environment: a stray worker would
 * consume another run's queue.
 */
function killLeftovers(marker: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker)) process.kill(Number(pid), 'SIGKILL');
    } catch { /* gone, or not ours to read */ }
  }
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCli: string;
    workflowBundlePath: string;
  }
}
