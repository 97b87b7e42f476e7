import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../src/config.js';
import { startDevServer } from '../src/temporal/devserver.js';
import { connectionOptions, describeConnection } from '../src/temporal/connection.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';
import { workflowsPath } from '../src/worker.js';
import { freePort } from './support/ports.js';
import { privateScans, scanHistories, scanLogs, type ScanResult } from './support/secrets.js';

/** One dev server and one workflow bundle for the whole run, handed to tests with provide(). */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-test-'));
  // Inherited by test files, their Celery workers and anything those start: see killLeftovers().
  process.env.RUNBOOKS_TEST_RUN = path.basename(dir);
  process.env.RUNBOOKS_TEST_SECRETS = path.join(dir, 'secrets');
  process.env.RUNBOOKS_TEST_LOGS = path.join(dir, 'logs');
  // This run's result; CI names one per lane (two runs at once never overwrite each other's).
  const scanFile = process.env.RUNBOOK_SECRET_SCAN_FILE || path.join('.data', `secret-scan-${path.basename(dir)}.json`);
  // Activities start children with a small environment (src/activities/child-env.ts): the marker
  // goes too, and the fixture apps the command driver starts keep the machine's Python settings.
  process.env.RUNBOOK_CHILD_ENV = 'RUNBOOKS_TEST_RUN,PYTHONDONTWRITEBYTECODE,PYTHONUNBUFFERED';
  rmSync(scanFile, { force: true });
  const cli = await resolveTemporalCli({ log: (l) => console.log(l) });
  // TEMPORAL_ADDRESS (with the TLS variables): the run uses that server (the cluster lane) instead of a dev server of its own.
  const existing = process.env.TEMPORAL_ADDRESS;
  const [server, bundle] = await Promise.all([
    existing
      ? { address: existing, stop: async () => undefined }
      : startDevServer({ cli, port: await freePort(), headless: true }),
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
    const secretsDir = process.env.RUNBOOKS_TEST_SECRETS!;
    const shared = await scanHistories(
      existing ? connectionOptions(loadConfig()) : { address: server.address },
      secretsDir,
    ).catch((err: Error): ScanResult => ({ error: err.message, histories: 0, secrets: 0, hits: [] }));
    killLeftovers(`RUNBOOKS_TEST_RUN=${path.basename(dir)}`);
    await server.stop();
    // After killLeftovers: the worker processes have written their last lines.
    const privates = privateScans(secretsDir);
    const logs = scanLogs(process.env.RUNBOOKS_TEST_LOGS!, secretsDir);
    const errors = [shared, ...privates].flatMap((r) => (r.error ? [r.error] : []));
    const scan: ScanResult = {
      histories: shared.histories + privates.reduce((n, r) => n + r.histories, 0),
      secrets: shared.secrets,
      logs: logs.logs,
      hits: [...shared.hits, ...privates.flatMap((r) => r.hits), ...logs.hits],
      ...(errors.length ? { error: errors.join('; ') } : {}),
    };
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.dirname(scanFile), { recursive: true });
    writeFileSync(scanFile, JSON.stringify(scan, null, 2));
    console.log(
      `secret scan (${scanFile}): ${scan.histories} histories (${privates.length} private dev server scans), ${scan.logs} log files, ${scan.secrets} registered secrets, ${scan.hits.length} hits${scan.error ? ` (scan failed: ${scan.error})` : ''}`,
    );
    if (scan.hits.length || scan.error) process.exitCode = 1; // vitest reports a teardown error but exits 0
    if (scan.hits.length || scan.error)
      throw new Error(
        `Secret scan failed: ${scan.error ?? scan.hits.map((h) => `${h.label} in ${h.where}`).join('; ')}`,
      );
  };
}

/**
 * Kills processes this run started and a failed test left behind (a Celery worker whose test
 * timed out before its afterAll), found by the marker in their environment: a stray worker would
 * consume another run's queue.
 */
function killLeftovers(marker: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker))
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone, or not ours to read */
    }
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
