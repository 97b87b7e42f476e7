import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { inject } from 'vitest';
import { repoRoot } from './harness.js';
import { testLogDir } from './secrets.js';
import { tlsEnv } from './temporal.js';
import { until } from './wait.js';

/**
 * Real worker processes (`src/worker.ts`) for crash tests: each can be told to kill itself with
 * SIGKILL at a chosen point (RUNBOOK_CHAOS, src/util/chaos.ts). Their output goes to a log file in
 * `dataDir` and in the run's log dir (read by the secret scan). `killAll()` in afterAll.
 */
export function workerProcesses(targetsFile: string, dataDir: string) {
  const procs: ResultPromise[] = [];
  return {
    async start(taskQueue: string, chaos?: string, env: Record<string, string> = {}): Promise<{ proc: ResultPromise }> {
      const proc = execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/worker.ts')], {
        cwd: repoRoot,
        reject: false,
        all: true,
        env: {
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          ...tlsEnv(),
          RUNBOOK_TASK_QUEUE: taskQueue,
          RUNBOOK_TARGETS: targetsFile,
          RUNBOOK_DATA_DIR: dataDir,
          LOG_LEVEL: 'warn',
          RUNBOOK_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
          ...(chaos ? { RUNBOOK_CHAOS: chaos } : {}),
          ...env,
        },
      });
      procs.push(proc);
      let out = '';
      // Its log in its data dir (for the test) and in the run's log dir (for the secret scan).
      const logs = [dataDir, testLogDir()].flatMap((d) =>
        d ? [path.join(d, `worker-${taskQueue}-${process.pid}.log`)] : [],
      );
      proc.all?.on('data', (d: Buffer) => {
        out += d.toString();
        for (const f of logs) appendFileSync(f, d);
      });
      await until(() => out.includes('Worker polling task queue'), 'the worker to start', 90_000);
      return { proc }; // not the process itself: awaiting it would wait for its exit
    },
    async killAll(): Promise<void> {
      for (const p of procs) p.kill('SIGKILL');
      await Promise.allSettled(procs);
    },
  };
}
