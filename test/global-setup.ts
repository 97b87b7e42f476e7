import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startDevServer } from '../src/devserver.js';
import { resolveTemporalCli } from '../src/temporal-cli.js';
import { workflowsPath } from '../src/worker.js';
import { freePort } from './support/ports.js';

/** One dev server and one workflow bundle for the whole run, handed to tests with provide(). */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-test-'));
  // Inherited by test files, their Celery workers and anything those start: see killLeftovers().
  process.env.RUNBOOKS_TEST_RUN = path.basename(dir);
  const cli = await resolveTemporalCli({ log: (l) => console.log(l) });
  const [server, bundle] = await Promise.all([
    startDevServer({ cli, port: await freePort(), headless: true }),
    bundleWorkflowCode({ workflowsPath, logger: quietLogger }),
  ]);
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('temporalCli', cli);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    killLeftovers(`RUNBOOKS_TEST_RUN=${path.basename(dir)}`);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
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
