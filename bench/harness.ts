/**
 * Helpers shared by the benches that run the worker in a process of its own (approvals, load,
 * soak): parking runs at gates, the worker process with its RSS, CPU time of a process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/devserver.js';
import type { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal-cli.js';
import { workflowsPath } from '../src/worker.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A dev server of the bench's own, the workflows bundled once into `dir`, and a client on a fresh task queue. */
export async function benchServer(dir: string, targets: TargetRegistry, queuePrefix: string) {
  const server = await startDevServer({ cli: await resolveTemporalCli(), port: 17000 + Math.floor(Math.random() * 1000), headless: true });
  const bundlePath = path.join(dir, 'bundle.js');
  writeFileSync(bundlePath, (await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') })).code);
  const connection = await Connection.connect({ address: server.address });
  const taskQueue = `${queuePrefix}-${Date.now()}`;
  const client = new RunbookClient(new Client({ connection }), { taskQueue, namespace: 'default', uiUrl: 'http://localhost:8233', targets: () => targets });
  return { server, serverPid: server.process.pid!, bundlePath, connection, taskQueue, client };
}

/** Starts `count` approval-drill runs on `target` (`concurrency` starts in flight) and waits until all are at their gate. */
export async function parkAt(client: RunbookClient, taskQueue: string, count: number, concurrency = 20, target = 'bench'): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      const { id } = await client.start('approval-drill', { target, initiator: 'bench' });
      ids.push(id);
    }
  }));
  await allAtGate(client, taskQueue, ids.length);
  return ids;
}

/** Waits until `count` runs on this client's queue show phase awaiting-approval (visibility, no queries). */
export async function allAtGate(client: RunbookClient, taskQueue: string, count: number) {
  const query = `RunbookPhase = "awaiting-approval" AND TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`;
  while ((await client.temporal.workflow.count(query)).count < count) await sleep(100);
}

export interface WorkerProcess {
  child: ResultPromise;
  pid: number;
  /** Latest RSS the worker printed (MB); NaN until the first line. */
  rss(): number;
  /** Latest heap in use after a full GC (MB), with exposeGc; NaN otherwise. */
  heap(): number;
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * bench/worker-process.ts in its own Node process (tsx loader included, as `npm run worker` runs),
 * which prints its RSS every second. `activitySlots` caps concurrent activities (0: SDK default).
 */
export function startWorkerProcess(a: { address: string; taskQueue: string; targetsFile: string; bundlePath: string; maxCachedWorkflows: number; activitySlots?: number; exposeGc?: boolean }): WorkerProcess {
  const child = execa('node', [...(a.exposeGc ? ['--expose-gc'] : []), '--import', 'tsx', path.join(import.meta.dirname, 'worker-process.ts'), a.address, a.taskQueue, a.targetsFile, a.bundlePath, String(a.maxCachedWorkflows), String(a.activitySlots ?? 0)], { reject: false });
  let rss = NaN;
  let heap = NaN;
  child.stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      const m = /^(rss|heap) ([\d.]+)$/.exec(line.trim());
      if (m?.[1] === 'rss') rss = Number(m[2]);
      else if (m) heap = Number(m[2]);
    }
  });
  child.stderr.on('data', (d: Buffer) => process.stderr.write(`[worker] ${d.toString()}`));
  return {
    child,
    pid: child.pid!,
    rss: () => rss,
    heap: () => heap,
    async ready() {
      while (Number.isNaN(rss)) {
        if (child.exitCode !== null) throw new Error(`worker process exited (${child.exitCode})`);
        await sleep(200);
      }
    },
    async stop() {
      child.kill('SIGINT');
      await child;
    },
  };
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (CLK_TCK 100)
}

/** Resident memory of a process (MB), from /proc. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** `n` at a time over `items`. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}
