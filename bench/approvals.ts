/**
 * The approval path as ratios to bare Temporal underneath (issue #21), in one run, one dev server:
 *   npx tsx bench/approvals.ts [--starts 300] [--clients 20] [--decisions 50] [--repeat 3] [--dist DIR] [--tsx-reps 1]
 *
 * Two sides, each on its own task queue with its own worker alone in its process, plain node, the
 * workflow bundle prebuilt:
 * - ours: the compiled worker (`npm run build` into a temporary directory, or --dist DIR of an
 *   earlier build), approval-drill runs started through the real HTTP API (in this process);
 * - bare: bench/bare/worker.js and bench/bare/workflows.ts (start → one activity → wait for a
 *   signal or update → one activity), started through the Temporal client.
 * Each repetition runs both sides, ours first in even repetitions, bare first in odd ones; each
 * side with a fresh worker process:
 *   1. idle RSS 2 s after the worker is ready;
 *   2. --starts runs from --clients concurrent clients. Ours: HTTP POST, counted when visibility
 *      shows every run at its gate. Bare: client.workflow.start, counted when every run's first
 *      activity has begun on the worker. So ours is timed to a later point of its run;
 *   3. RSS 3 s after that, all runs parked: (parked − idle) / runs = memory per parked run
 *      (maxCachedWorkflows ≥ runs on both sides);
 *   4. --decisions updates and as many signals to parked runs, alternating, one at a time:
 *      decision sent → the next activity began on the worker (its own Date.now()). Ours decides
 *      by update through RunbookClient.decide (as the API and CLI do: a describe first) and by
 *      signal with the raw decide signal; bare with executeUpdate / signal.
 * Then, --tsx-reps times, our worker from source with the tsx loader (bench/worker-process.ts),
 * for what tsx costs: time to ready and idle RSS against the compiled worker's.
 * Progress on stderr; prints a Markdown block whose last line is the ratio line.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { stringify } from 'yaml';
import { ensureDevTokens, TokenStore } from '../src/api/auth.js';
import { buildApi } from '../src/api/server.js';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/temporal/devserver.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { workflowsPath } from '../src/worker.js';
import { decideSignal } from '../src/contract/messages.js';
import { bareDecideSignal, bareDecideUpdate, type bareApproval } from './bare/workflows.js';
import {
  allAtGate,
  compiledBuild,
  pool,
  rssOf,
  sleep,
  startBareWorker,
  startWorkerProcess,
  type WorkerProcess,
} from './harness.js';
import { log, median, percentile, spread } from './stats.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';
import { writeBareBundle } from './bare/bundle.js';

const { values } = parseArgs({
  options: {
    starts: { type: 'string', default: '300' },
    clients: { type: 'string', default: '20' },
    decisions: { type: 'string', default: '50' },
    repeat: { type: 'string', default: '3' },
    dist: { type: 'string' },
    'tsx-reps': { type: 'string', default: '1' },
  },
});
const N = {
  starts: Number(values.starts),
  clients: Number(values.clients),
  decisions: Number(values.decisions),
  repeat: Number(values.repeat),
  tsxReps: Number(values['tsx-reps']),
};
if (2 * N.decisions > N.starts)
  throw new Error(
    `--decisions ${N.decisions} needs --starts ≥ ${2 * N.decisions}: the decisions go to parked runs, one update and one signal each`,
  );
const cache = Math.max(500, N.starts);

Runtime.install({ logger: new DefaultLogger('ERROR') });
const load0 = os.loadavg();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-approvals-'));
const targetsFile = path.join(dir, 'targets.yaml');
// Unsigned starts and decisions allowed, as in the tests' targets: the API here has no signing key (signing is not measured).
writeFileSync(
  targetsFile,
  stringify({
    targets: { bench: { policy: { unsignedStarts: 'allow', unsignedDecisions: 'allow', deadline: '2h' } } },
  }),
);
const targets = TargetRegistry.load(targetsFile);
let t = performance.now();
const dist = values.dist ? path.resolve(values.dist) : await compiledBuild(path.join(dir, 'build'));
log(
  `compiled build: ${dist}${values.dist ? ' (given)' : ` (npm run build, ${((performance.now() - t) / 1000).toFixed(1)} s)`}`,
);
const bareBundle = await writeBareBundle(dir);
const server = await startDevServer({
  cli: await resolveTemporalCli(),
  port: 17500 + Math.floor(Math.random() * 400),
  headless: true,
});
const connection = await Connection.connect({ address: server.address });
const temporal = new Client({ connection });
const dev = ensureDevTokens(dir);
const token = (JSON.parse(readFileSync(dev.plainFile, 'utf8')) as { alice: string }).alice;
log(
  `dev server ${server.address}; ${N.repeat} repetitions of ${N.starts} starts (${N.clients} clients) and ${N.decisions} updates + ${N.decisions} signals per side`,
);

interface SideResult {
  idleMb: number;
  readyMs: number;
  startsPerS: number;
  perRunMb: number;
  update: number[];
  signal: number[];
}

/** Waits `ms` after the worker's ready line, then its RSS from /proc. */
async function idleRss(w: WorkerProcess, ms = 2000): Promise<number> {
  await w.ready();
  await sleep(ms);
  return rssOf(w.pid);
}

/** Decisions to `ids[0..2n)`, alternating update and signal, one at a time: sent → next activity began. */
async function decisions(
  ids: string[],
  decide: (id: string, via: 'update' | 'signal') => Promise<number>,
): Promise<{ update: number[]; signal: number[] }> {
  const out = { update: [] as number[], signal: [] as number[] };
  for (let i = 0; i < 2 * N.decisions; i++) {
    const via = i % 2 === 0 ? 'update' : 'signal';
    out[via].push(await decide(ids[i]!, via));
  }
  return out;
}

async function ours(rep: number): Promise<SideResult> {
  const taskQueue = `bench-ours-${rep}-${Date.now()}`;
  const worker = startWorkerProcess({
    address: server.address,
    taskQueue,
    targetsFile,
    dist,
    maxCachedWorkflows: cache,
  });
  try {
    const idleMb = await idleRss(worker);
    const client = new RunbookClient(temporal, {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://localhost:8233',
      targets: () => targets,
    });
    // The limiter stays on, with a ceiling this bench does not reach (600 a minute per caller by default).
    const api = await buildApi({ client, tokens: TokenStore.load(dev.tokensFile), rateLimit: 1_000_000 });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
    const t0 = performance.now();
    const ids = await pool(Array.from({ length: N.starts }), N.clients, async () => {
      const res = await fetch(`${base}/runbooks/approval-drill/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'bench' }),
      });
      if (res.status !== 201) throw new Error(`start answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    });
    await allAtGate(client, taskQueue, N.starts);
    const startsPerS = N.starts / ((performance.now() - t0) / 1000);
    await api.close();
    await sleep(3000);
    const perRunMb = (rssOf(worker.pid) - idleMb) / N.starts;
    const lat = await decisions(ids, async (id, via) => {
      const h = temporal.workflow.getHandle(id);
      const sent = Date.now();
      if (via === 'update')
        await client.decide(id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
      else await h.signal(decideSignal, { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'] });
      await h.result();
      return (await recordDecisionStartedAt(h)) - sent;
    });
    await pool(ids.slice(2 * N.decisions), 20, (id) => temporal.workflow.getHandle(id).terminate('bench cleanup'));
    return { idleMb, readyMs: worker.readyMs(), startsPerS, perRunMb, ...lat };
  } finally {
    await worker.stop();
  }
}

/** When approval-drill's record-decision step began on the worker (its result's startedAtMs). */
async function recordDecisionStartedAt(h: WorkflowHandle): Promise<number> {
  const history = await h.fetchHistory();
  for (const e of history.events ?? []) {
    const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    const value = data ? (JSON.parse(Buffer.from(data).toString()) as { startedAtMs?: unknown }) : undefined;
    if (typeof value?.startedAtMs === 'number') return value.startedAtMs;
  }
  throw new Error(`${h.workflowId}: no step with startedAtMs in its history`);
}

async function bare(rep: number): Promise<SideResult> {
  const taskQueue = `bench-bare-${rep}-${Date.now()}`;
  let firsts = 0;
  const worker = startBareWorker({
    address: server.address,
    taskQueue,
    bundlePath: bareBundle,
    maxCachedWorkflows: cache,
    onFirst: () => firsts++,
  });
  try {
    const idleMb = await idleRss(worker);
    const t0 = performance.now();
    const ids = await pool(Array.from({ length: N.starts }), N.clients, async (_, i) => {
      const workflowId = `${taskQueue}-${i}`;
      await temporal.workflow.start<typeof bareApproval>('bareApproval', { workflowId, taskQueue });
      return workflowId;
    });
    while (firsts < N.starts) await sleep(20);
    const startsPerS = N.starts / ((performance.now() - t0) / 1000);
    await sleep(3000);
    const perRunMb = (rssOf(worker.pid) - idleMb) / N.starts;
    const lat = await decisions(ids, async (id, via) => {
      const h = temporal.workflow.getHandle<typeof bareApproval>(id);
      const sent = Date.now();
      if (via === 'update') await h.executeUpdate(bareDecideUpdate, { args: ['approve'] });
      else await h.signal(bareDecideSignal, 'approve');
      return (await h.result()).startedAtMs - sent;
    });
    await pool(ids.slice(2 * N.decisions), 20, (id) => temporal.workflow.getHandle(id).terminate('bench cleanup'));
    return { idleMb, readyMs: worker.readyMs(), startsPerS, perRunMb, ...lat };
  } finally {
    await worker.stop();
  }
}

const reps: Array<{ ours: SideResult; bare: SideResult; loadavg: number; order: string }> = [];
for (let r = 0; r < N.repeat; r++) {
  const loadavg = os.loadavg()[0]!;
  const order = r % 2 === 0 ? 'ours, bare' : 'bare, ours';
  t = performance.now();
  let o: SideResult;
  let b: SideResult;
  if (r % 2 === 0) {
    o = await ours(r);
    b = await bare(r);
  } else {
    b = await bare(r);
    o = await ours(r);
  }
  reps.push({ ours: o, bare: b, loadavg, order });
  log(
    `repetition ${r + 1}/${N.repeat} (${order}) in ${((performance.now() - t) / 1000).toFixed(0)} s: starts ${o.startsPerS.toFixed(1)} vs ${b.startsPerS.toFixed(1)}/s, update p50 ${percentile(o.update, 50)} vs ${percentile(b.update, 50)} ms, signal p50 ${percentile(o.signal, 50)} vs ${percentile(b.signal, 50)} ms, per run ${o.perRunMb.toFixed(3)} vs ${b.perRunMb.toFixed(3)} MB`,
  );
}

// What tsx costs: our worker from source with the tsx loader, idle, against the compiled one.
const tsx: Array<{ readyMs: number; idleMb: number }> = [];
if (N.tsxReps > 0) {
  const srcBundle = path.join(dir, 'bundle-src.js');
  writeFileSync(
    srcBundle,
    (await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: new DefaultLogger('ERROR') })).code,
  );
  for (let i = 0; i < N.tsxReps; i++) {
    const w = startWorkerProcess({
      address: server.address,
      taskQueue: `bench-tsx-${i}-${Date.now()}`,
      targetsFile,
      bundlePath: srcBundle,
      maxCachedWorkflows: cache,
    });
    try {
      const idleMb = await idleRss(w);
      tsx.push({ readyMs: w.readyMs(), idleMb });
    } finally {
      await w.stop();
    }
  }
}
const load1 = os.loadavg();

const f = (x: number, d = 1) => x.toFixed(d);
const p50 = (xs: number[]) => percentile(xs, 50);
const p95 = (xs: number[]) => percentile(xs, 95);
const col = (get: (s: SideResult) => number, side: 'ours' | 'bare') => reps.map((r) => get(r[side]));
/** median [min–max] over the repetitions of one side. */
const med = (get: (s: SideResult) => number, side: 'ours' | 'bare', d = 1, unit = '') => {
  const xs = col(get, side);
  return `${f(median(xs), d)}${unit} [${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)}]`;
};
const ratioOf = (get: (s: SideResult) => number) => reps.map((r) => get(r.ours) / get(r.bare));
const ratios = {
  starts: ratioOf((s) => s.startsPerS),
  update: ratioOf((s) => p50(s.update)),
  signal: ratioOf((s) => p50(s.signal)),
  memory: ratioOf((s) => s.perRunMb),
  idle: ratioOf((s) => s.idleMb),
};
const rmed = (xs: number[]) => `${f(median(xs), 2)}× [${f(Math.min(...xs), 2)}–${f(Math.max(...xs), 2)}]`;
const rows: Array<[string, (s: SideResult) => number, number, string, number[], string]> = [
  [
    `starts per second (${N.clients} clients; ours through the HTTP API counted at the gate, bare through the Temporal client counted at its first activity)`,
    (s) => s.startsPerS,
    1,
    '/s',
    ratios.starts,
    '≥ 0.9×',
  ],
  ['decision by update → next activity began, p50', (s) => p50(s.update), 0, ' ms', ratios.update, '≤ 1.1×'],
  ['same, p95', (s) => p95(s.update), 0, ' ms', ratioOf((s) => p95(s.update)), ''],
  ['decision by signal → next activity began, p50', (s) => p50(s.signal), 0, ' ms', ratios.signal, '≤ 1.1×'],
  ['same, p95', (s) => p95(s.signal), 0, ' ms', ratioOf((s) => p95(s.signal)), ''],
  [
    `worker memory per parked run ((RSS with ${N.starts} parked − idle) / ${N.starts})`,
    (s) => s.perRunMb,
    3,
    ' MB',
    ratios.memory,
    '≤ 1.3×',
  ],
  ['worker RSS idle (2 s after ready)', (s) => s.idleMb, 0, ' MB', ratios.idle, '≤ 1.2×'],
  ['worker process start → ready', (s) => s.readyMs, 0, ' ms', ratioOf((s) => s.readyMs), ''],
];
const out: string[] = [];
out.push(
  `### Approval path as ratios to bare Temporal (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})`,
  '',
);
out.push(
  `Command: \`npx tsx bench/approvals.ts --starts ${N.starts} --clients ${N.clients} --decisions ${N.decisions} --repeat ${N.repeat} --tsx-reps ${N.tsxReps}${values.dist ? ' --dist …' : ''}\`. One dev server; each side on its own task queue with its own worker process (plain node, prebuilt bundle, maxCachedWorkflows ${cache}): ours the compiled build (${values.dist ? 'given with --dist' : 'npm run build in this run'}), bare bench/bare/. Order alternates per repetition. Load average (1/5/15 min) at start ${load0.map((x) => f(x, 2)).join(' ')}, at end ${load1.map((x) => f(x, 2)).join(' ')}.`,
  '',
);
out.push(
  '| measure (median over repetitions [min–max]) | ours | bare | ours / bare, per repetition: median [min–max] | goal |',
  '|---|---|---|---|---|',
);
for (const [label, get, d, unit, rs, goal] of rows)
  out.push(`| ${label} | ${med(get, 'ours', d, unit)} | ${med(get, 'bare', d, unit)} | ${rmed(rs)} | ${goal} |`);
out.push(
  '',
  '| repetition | order | load (1 min) | starts | update p50 | signal p50 | memory per parked run | idle RSS |',
  '|---|---|---|---|---|---|---|---|',
);
reps.forEach((r, i) =>
  out.push(
    `| ${i + 1} | ${r.order} | ${f(r.loadavg, 2)} | ${f(ratios.starts[i]!, 2)}× (${f(r.ours.startsPerS)} / ${f(r.bare.startsPerS)}/s) | ${f(ratios.update[i]!, 2)}× (${p50(r.ours.update)} / ${p50(r.bare.update)} ms) | ${f(ratios.signal[i]!, 2)}× (${p50(r.ours.signal)} / ${p50(r.bare.signal)} ms) | ${f(ratios.memory[i]!, 2)}× (${f(r.ours.perRunMb, 3)} / ${f(r.bare.perRunMb, 3)} MB) | ${f(ratios.idle[i]!, 2)}× (${f(r.ours.idleMb, 0)} / ${f(r.bare.idleMb, 0)} MB) |`,
  ),
);
if (tsx.length > 0) {
  const ti = tsx.map((x) => x.idleMb);
  const tr = tsx.map((x) => x.readyMs);
  out.push(
    '',
    `What tsx costs (our worker from source with the tsx loader, bench/worker-process.ts, ${tsx.length}× after the repetitions): idle RSS ${f(median(ti), 0)} MB ${spread(ti)} against the compiled worker's ${med((s) => s.idleMb, 'ours', 0, ' MB')}; start → ready ${f(median(tr), 0)} ms ${spread(tr)} against ${med((s) => s.readyMs, 'ours', 0, ' ms')}.`,
  );
}
out.push('', `idle worker RSS: ${f(median(ratios.idle), 2)}× bare`);
out.push(
  `ratios: starts ${f(median(ratios.starts), 2)}× bare, signal ${f(median(ratios.signal), 2)}× bare, update ${f(median(ratios.update), 2)}× bare, parked memory per run ${f(median(ratios.memory), 2)}× bare`,
);
console.log(out.join('\n'));
await connection.close();
await server.stop();
