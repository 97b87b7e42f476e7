/**
 * Helpers shared by the benches that run the worker in a process of its own (approvals, load,
 * soak): parking runs at gates, the worker process with its RSS, CPU time of a process.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/temporal/devserver.js';
import type { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { workflowsPath } from '../src/worker.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A dev server of the bench's own, the workflows bundled once into `dir`, and a client on a fresh task queue. */
export async function benchServer(dir: string, targets: TargetRegistry, queuePrefix: string) {
  const server = await startDevServer({
    cli: await resolveTemporalCli(),
    port: 17000 + Math.floor(Math.random() * 1000),
    headless: true,
  });
  const bundlePath = path.join(dir, 'bundle.js');
  writeFileSync(
    bundlePath,
    (await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: new DefaultLogger('ERROR') })).code,
  );
  const connection = await Connection.connect({ address: server.address });
  const taskQueue = `${queuePrefix}-${Date.now()}`;
  const client = new RunbookClient(new Client({ connection }), {
    taskQueue,
    namespace: 'default',
    uiUrl: 'http://localhost:8233',
    targets: () => targets,
  });
  return { server, serverPid: server.process.pid!, bundlePath, connection, taskQueue, client };
}

/** Starts `count` approval-drill runs on `target` (`concurrency` starts in flight) and waits until all are at their gate. */
export async function parkAt(
  client: RunbookClient,
  taskQueue: string,
  count: number,
  concurrency = 20,
  target = 'bench',
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const { id } = await client.start('approval-drill', { target, initiator: 'bench' });
        ids.push(id);
      }
    }),
  );
  await allAtGate(client, taskQueue, ids.length);
  return ids;
}

/** Waits until `count` runs on this client's queue show phase awaiting-approval (visibility, no queries). */
export async function allAtGate(client: RunbookClient, taskQueue: string, count: number) {
  const query = `RunbookPhase = "awaiting-approval" AND TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`;
  const ended = `TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running"`;
  for (let i = 1; (await client.temporal.workflow.count(query)).count < count; i++) {
    // A run that ended never reaches its gate (a refused start, a bench misconfigured): say so rather than wait forever.
    if (i % 20 === 0 && (await client.temporal.workflow.count(ended)).count > 0) {
      for await (const w of client.temporal.workflow.list({ query: ended, pageSize: 1 })) {
        throw new Error(
          `run ${w.workflowId} on ${taskQueue} ended (${w.status.name}) before its gate: see its history (temporal workflow show -w ${w.workflowId})`,
        );
      }
    }
    await sleep(100);
  }
}

export interface WorkerProcess {
  child: ResultPromise;
  pid: number;
  /** Latest RSS the worker printed (MB); NaN until the first line. */
  rss(): number;
  /** Latest heap in use after a full GC (MB), with exposeGc; NaN otherwise. */
  heap(): number;
  /** Resolves once the worker is created (its "ready" line). */
  ready(): Promise<void>;
  /** Milliseconds from spawning the process to its "ready" line; NaN before. */
  readyMs(): number;
  stop(): Promise<void>;
}

/**
 * A worker alone in its own Node process, which prints "ready" once created, its RSS every second
 * ("rss <MB>"), and any other line to `onLine`:
 * - `dist` given: our compiled worker (bench/worker-dist.js on plain node, dist's prebuilt bundle),
 *   as production runs it;
 * - otherwise bench/worker-process.ts with the tsx loader (as `npm run worker` runs) and `bundlePath`.
 * `activitySlots` caps concurrent activities (0: SDK default).
 */
export function startWorkerProcess(a: {
  address: string;
  taskQueue: string;
  targetsFile: string;
  dist?: string;
  bundlePath?: string;
  maxCachedWorkflows: number;
  activitySlots?: number;
  exposeGc?: boolean;
}): WorkerProcess {
  const gc = a.exposeGc ? ['--expose-gc'] : [];
  const rest = [a.address, a.taskQueue, a.targetsFile];
  const tail = [String(a.maxCachedWorkflows), String(a.activitySlots ?? 0)];
  if (!a.dist && !a.bundlePath)
    throw new Error('startWorkerProcess: pass dist (the compiled worker) or bundlePath (the tsx one)');
  return spawnWorker(
    a.dist
      ? [...gc, path.join(import.meta.dirname, 'worker-dist.js'), a.dist, ...rest, ...tail]
      : [
          ...gc,
          '--import',
          'tsx',
          path.join(import.meta.dirname, 'worker-process.ts'),
          ...rest,
          a.bundlePath!,
          ...tail,
        ],
  );
}

/** The bare-Temporal baseline's worker (bench/bare/worker.js, plain node); `onFirst` per run reaching its first activity. */
export function startBareWorker(a: {
  address: string;
  taskQueue: string;
  bundlePath: string;
  maxCachedWorkflows: number;
  onFirst: () => void;
}): WorkerProcess {
  return spawnWorker(
    [
      path.join(import.meta.dirname, 'bare', 'worker.js'),
      a.address,
      a.taskQueue,
      a.bundlePath,
      String(a.maxCachedWorkflows),
    ],
    (line) => {
      if (line === 'first') a.onFirst();
    },
  );
}

function spawnWorker(nodeArgs: string[], onLine?: (line: string) => void): WorkerProcess {
  const t0 = performance.now();
  const child = execa('node', nodeArgs, { reject: false, buffer: false });
  let rss = NaN;
  let heap = NaN;
  let readyMs = NaN;
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const raw of lines) {
      const line = raw.trim();
      const m = /^(rss|heap) ([\d.]+)$/.exec(line);
      if (m?.[1] === 'rss') rss = Number(m[2]);
      else if (m) heap = Number(m[2]);
      else if (line === 'ready') readyMs = performance.now() - t0;
      else onLine?.(line);
    }
  });
  child.stderr.on('data', (d: Buffer) => process.stderr.write(`[worker] ${d.toString()}`));
  return {
    child,
    pid: child.pid!,
    rss: () => rss,
    heap: () => heap,
    readyMs: () => readyMs,
    async ready() {
      while (Number.isNaN(readyMs) || Number.isNaN(rss)) {
        if (child.exitCode !== null) throw new Error(`worker process exited (${child.exitCode})`);
        await sleep(100);
      }
    },
    async stop() {
      child.kill('SIGINT');
      await child;
    },
  };
}

/**
 * `npm run build` (scripts/build.ts) into `<root>/dist`, with `<root>/node_modules` linked to the
 * repository's and its package.json beside it (ES modules), so dist/ runs on plain node. Returns dist.
 */
export async function compiledBuild(root: string): Promise<string> {
  const repo = path.resolve(import.meta.dirname, '..');
  mkdirSync(root, { recursive: true });
  if (!existsSync(path.join(root, 'node_modules')))
    symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'));
  copyFileSync(path.join(repo, 'package.json'), path.join(root, 'package.json'));
  const dist = path.join(root, 'dist');
  await execa('node', ['--import', 'tsx', path.join(repo, 'scripts/build.ts'), '--out-dir', dist], { cwd: repo });
  return dist;
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
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
