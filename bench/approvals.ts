/**
 * Approval-path benchmarks (issue: gates/API). Own dev server, worker and API on this machine.
 *   npx tsx bench/approvals.ts [--gates 200] [--starts 1000] [--clients 20] [--parked 500] [--repeat 5]
 * Prints a Markdown block for bench/RESULTS.md.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { ensureDevTokens, TokenStore } from '../src/api/auth.js';
import { buildApi } from '../src/api/server.js';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/devserver.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal-cli.js';
import { createWorker, workflowsPath } from '../src/worker.js';
import { decideSignal } from '../src/workflows/messages.js';
import { allAtGate, parkAt } from './harness.js';
import { median, percentile, spread } from './stats.js';

const { values } = parseArgs({ options: {
  gates: { type: 'string', default: '200' }, starts: { type: 'string', default: '1000' }, clients: { type: 'string', default: '20' },
  parked: { type: 'string', default: '500' }, repeat: { type: 'string', default: '5' },
} });
const N = { gates: Number(values.gates), starts: Number(values.starts), clients: Number(values.clients), parked: Number(values.parked), repeat: Number(values.repeat) };

Runtime.install({ logger: new DefaultLogger('ERROR') });
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
const targetsFile = path.join(dir, 'targets.yaml');
writeFileSync(targetsFile, stringify({ targets: { bench: { policy: { unsignedDecisions: 'allow', deadline: '2h' } } } }));
const targets = TargetRegistry.load(targetsFile);
const server = await startDevServer({ cli: await resolveTemporalCli(), port: 17500 + Math.floor(Math.random() * 400), headless: true });
const bundlePath = path.join(dir, 'bundle.js');
writeFileSync(bundlePath, (await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') })).code);
const native = await NativeConnection.connect({ address: server.address });
const connection = await Connection.connect({ address: server.address });

async function withWorker<T>(taskQueue: string, fn: (client: RunbookClient, taskQueue: string) => Promise<T>, maxCachedWorkflows?: number): Promise<T> {
  const worker = await createWorker({ connection: native, address: server.address, namespace: 'default', taskQueue, targets, maxCachedWorkflows, workflowBundle: { codePath: bundlePath } });
  const running = worker.run();
  const client = new RunbookClient(new Client({ connection }), { taskQueue, namespace: 'default', uiUrl: 'http://localhost:8233', targets: () => targets });
  try {
    return await fn(client, taskQueue);
  } finally {
    worker.shutdown();
    await running;
  }
}

/** Decision sent → record-decision activity started (its own timestamp). */
async function decisionLatency(via: 'update' | 'signal'): Promise<number[]> {
  return withWorker(`bench-${via}-${Date.now()}`, async (client, taskQueue) => {
    const ids = await parkAt(client, taskQueue, N.gates);
    const lat: number[] = [];
    for (const id of ids) {
      const h = client.temporal.workflow.getHandle(id);
      const t0 = Date.now();
      if (via === 'update') await client.decide(id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
      else await h.signal(decideSignal, { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'] });
      await h.result();
      const history = await h.fetchHistory();
      const startedAtMs = history.events!.flatMap((e) => {
        const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
        const value = data ? (JSON.parse(Buffer.from(data).toString()) as { startedAtMs?: unknown }) : undefined;
        return typeof value?.startedAtMs === 'number' ? [value.startedAtMs] : [];
      })[0]!;
      lat.push(startedAtMs - t0);
    }
    return lat;
  });
}

/** Starts through the real HTTP API from concurrent clients, counted when each run is at its gate. */
async function apiStarts(): Promise<number> {
  return withWorker(`bench-api-${Date.now()}`, async (client, taskQueue) => {
    const dev = ensureDevTokens(dir);
    const token = (JSON.parse((await import('node:fs')).readFileSync(dev.plainFile, 'utf8')) as { alice: string }).alice;
    const api = await buildApi({ client, tokens: TokenStore.load(dev.tokensFile) });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
    const t0 = performance.now();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: N.clients }, async () => {
      while (next < N.starts) {
        next++;
        const res = await fetch(`${base}/runbooks/approval-drill/runs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: 'bench' }) });
        if (res.status !== 201) throw new Error(`start answered ${res.status}: ${await res.text()}`);
        ids.push(((await res.json()) as { id: string }).id);
      }
    }));
    await allAtGate(client, taskQueue, ids.length);
    const seconds = (performance.now() - t0) / 1000;
    await api.close();
    await Promise.all(ids.map((id) => client.temporal.workflow.getHandle(id).terminate('bench cleanup')));
    return N.starts / seconds;
  });
}

const idle: number[] = [];
/** The worker in its own process (tsx included), RSS after N runs parked at their gates. */
async function parkedRss(): Promise<number> {
  const taskQueue = `bench-rss-${Date.now()}`;
  const child = execa('node', ['--import', 'tsx', path.join(import.meta.dirname, 'worker-process.ts'), server.address, taskQueue, targetsFile, bundlePath, String(Math.max(500, N.parked))], { reject: false });
  let rss = NaN;
  child.stdout.on('data', (d: Buffer) => { const m = /rss ([\d.]+)\s*$/.exec(d.toString().trim()); if (m) rss = Number(m[1]); });
  const client = new RunbookClient(new Client({ connection }), { taskQueue, namespace: 'default', uiUrl: 'http://localhost:8233', targets: () => targets });
  while (Number.isNaN(rss)) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  idle.push(rss);
  const ids = await parkAt(client, taskQueue, N.parked);
  await new Promise((r) => setTimeout(r, 3000));
  const measured = rss;
  await Promise.all(ids.map((id) => client.temporal.workflow.getHandle(id).terminate('bench cleanup')));
  child.kill('SIGINT');
  await child;
  return measured;
}

const runs = { update: [] as number[][], signal: [] as number[][], starts: [] as number[], rss: [] as number[] };
for (let i = 0; i < N.repeat; i++) {
  runs.update.push(await decisionLatency('update'));
  runs.signal.push(await decisionLatency('signal'));
  runs.starts.push(await apiStarts());
  runs.rss.push(await parkedRss());
  console.error(`round ${i + 1}/${N.repeat} done`);
}
const p = (xs: number[][], q: number) => xs.map((x) => percentile(x, q));
console.log(`### Approval path (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})

Command: \`npx tsx bench/approvals.ts --gates ${N.gates} --starts ${N.starts} --clients ${N.clients} --parked ${N.parked} --repeat ${N.repeat}\` (each figure: median of ${N.repeat} rounds, [min–max]).

| measure | result | goal |
|---|---|---|
| decision (update, until it returns) → next activity started, p50 | ${median(p(runs.update, 50)).toFixed(1)} ms ${spread(p(runs.update, 50))} | ≤ 50 ms |
| same, p99 | ${median(p(runs.update, 99)).toFixed(1)} ms ${spread(p(runs.update, 99))} | ≤ 250 ms |
| decision (signal, until the send returns) → next activity started, p50 | ${median(p(runs.signal, 50)).toFixed(1)} ms ${spread(p(runs.signal, 50))} | ≤ 50 ms |
| same, p99 | ${median(p(runs.signal, 99)).toFixed(1)} ms ${spread(p(runs.signal, 99))} | ≤ 250 ms |
| starts through the API (${N.clients} clients, counted at the gate) | ${median(runs.starts).toFixed(1)} starts/s ${spread(runs.starts)} | ≥ 100/s |
| worker process RSS with ${N.parked} runs parked at gates (cache ≥ 500) | ${median(runs.rss).toFixed(0)} MB ${spread(runs.rss)} | ≤ 300 MB |
| same worker process idle, before the runs (tsx loader and SDK included) | ${median(idle).toFixed(0)} MB ${spread(idle)} | |
`);
await native.close();
await connection.close();
await server.stop();
