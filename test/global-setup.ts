import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
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
