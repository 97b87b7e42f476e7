/**
 * Soak (issue #8): mixed runbooks with random decisions on one worker process, for --minutes.
 *   npx tsx bench/soak.ts [--minutes 45] [--warmup 12] [--gap 1.5] [--cache 500] [--seed <n>]
 * Own headless dev server (port 17000-17999) and one worker process (maxCachedWorkflows --cache).
 * One start every gap±0.5 s, drawn from: db-access (PostgreSQL 127.0.0.1:5432/test, no alembic
 * directory) 40 %; approval-drill approved 20 %, rejected 20 %, aborted 10 % (each decided by
 * `RunbookClient.decide`/`abort` 2–30 s after its start); approval-drill left to expire (a target
 * whose gate deadline is 20 s) 10 %. Worker RSS, and its heap in use after a full GC, every 30 s;
 * baseline = the sample at --warmup minutes (the worker's caches fill for about 10 minutes). At the end every run is classified from its status and failure type against what its
 * decision should give. Progress on stderr; prints a Markdown block for bench/RESULTS.md.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stringify } from 'yaml';
import { DecisionError, failureText, runState } from '../src/client.js';
import { RunbookPhase } from '../src/contract/search-attributes.js';
import { TargetRegistry } from '../src/targets.js';
import { benchServer, cpuSeconds, pool, rssOf, sleep, startWorkerProcess } from './harness.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '45' },
    warmup: { type: 'string', default: '12' },
    gap: { type: 'string', default: '1.5' },
    cache: { type: 'string', default: '500' },
    seed: { type: 'string', default: String(Date.now() % 1e9) },
  },
});
const N = {
  minutes: Number(values.minutes),
  warmup: Number(values.warmup),
  gap: Number(values.gap),
  cache: Number(values.cache),
  seed: Number(values.seed),
};
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
let state = N.seed >>> 0;
const random = () => {
  // mulberry32: the same --seed gives the same mix, decisions and delays
  state = (state + 0x6d2b79f5) >>> 0;
  let x = Math.imul(state ^ (state >>> 15), 1 | state);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
};

type Kind = 'db-access' | 'drill: approve' | 'drill: reject' | 'drill: abort' | 'drill: expire';
const mix: Array<[Kind, number]> = [
  ['db-access', 0.4],
  ['drill: approve', 0.2],
  ['drill: reject', 0.2],
  ['drill: abort', 0.1],
  ['drill: expire', 0.1],
];
/** What each kind must end as: status as users see it, and the failure type of an aborted run. */
const expected: Record<Kind, { state: string; type?: string }> = {
  'db-access': { state: 'completed' },
  'drill: approve': { state: 'completed' },
  'drill: reject': { state: 'aborted', type: 'GateRejected' },
  'drill: abort': { state: 'aborted', type: 'RunbookAborted' },
  'drill: expire': { state: 'aborted', type: 'GateExpired' },
};
const pick = (): Kind => {
  let r = random();
  for (const [k, w] of mix) if ((r -= w) < 0) return k;
  return 'db-access';
};

Runtime.install({ logger: new DefaultLogger('ERROR') });
const load0 = os.loadavg();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-soak-'));
const targetsFile = path.join(dir, 'targets.yaml');
// Unsigned starts allowed, as in the tests' targets: this client has no signing key (main denies unsigned starts by default).
writeFileSync(
  targetsFile,
  stringify({
    targets: {
      bench: { policy: { unsignedStarts: 'allow', unsignedDecisions: 'allow', deadline: '2h' } },
      'bench-expire': { policy: { unsignedStarts: 'allow', unsignedDecisions: 'allow', deadline: '20s' } },
      'bench-db': {
        policy: { unsignedStarts: 'allow' },
        postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' },
      },
    },
  }),
);
const targets = TargetRegistry.load(targetsFile);
const { server, serverPid, bundlePath, connection, taskQueue, client } = await benchServer(dir, targets, 'bench-soak');
const worker = startWorkerProcess({
  address: server.address,
  taskQueue,
  targetsFile,
  bundlePath,
  maxCachedWorkflows: N.cache,
  exposeGc: true,
});
await worker.ready();
log(
  `dev server ${server.address} (pid ${serverPid}), worker pid ${worker.pid}, seed ${N.seed}, RSS ${worker.rss()} MB`,
);

interface Run {
  kind: Kind;
  id?: string;
  problem?: string;
  outcome?: string;
  ok?: boolean;
}
const runs: Run[] = [];
const decisions: Array<Promise<void>> = [];
let decideRetries = 0;

/** Decides (or aborts) after the delay; a gate not open yet is tried again each second for 60 s. */
async function decideLater(run: Run, delayMs: number): Promise<void> {
  await sleep(delayMs);
  for (let tries = 0; ; tries++) {
    try {
      if (run.kind === 'drill: abort') await client.abort(run.id!, 'bob', 'soak: random abort');
      else
        await client.decide(
          run.id!,
          'proceed',
          { decision: run.kind === 'drill: approve' ? 'approve' : 'reject', comment: 'soak' },
          { person: 'bob', roles: ['approver'] },
        );
      return;
    } catch (err) {
      if (err instanceof DecisionError && err.kind === 'unknown-gate' && tries < 60) {
        decideRetries++;
        await sleep(1000);
        continue;
      }
      run.problem = `${run.kind === 'drill: abort' ? 'abort' : 'decision'} refused: ${(err as Error).message}`;
      return;
    }
  }
}

async function startOne(kind: Kind): Promise<void> {
  const run: Run = { kind };
  runs.push(run);
  try {
    run.id = (
      await client.start(kind === 'db-access' ? 'db-access' : 'approval-drill', {
        target: kind === 'db-access' ? 'bench-db' : kind === 'drill: expire' ? 'bench-expire' : 'bench',
        initiator: 'soak',
      })
    ).id;
  } catch (err) {
    run.problem = `start failed: ${(err as Error).message}`;
    return;
  }
  if (kind !== 'db-access' && kind !== 'drill: expire') decisions.push(decideLater(run, 2000 + random() * 28_000));
}

const t0 = Date.now();
const end = t0 + N.minutes * 60_000;
const samples: Array<{ min: number; rss: number; heap: number; serverRss: number; closed: number }> = [];
const cpu0 = { server: cpuSeconds(serverPid), worker: cpuSeconds(worker.pid) };
const closedCount = async () =>
  (await client.temporal.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus != "Running"`)).count;
const sample = async () => {
  const s = {
    min: (Date.now() - t0) / 60_000,
    rss: worker.rss(),
    heap: worker.heap(),
    serverRss: rssOf(serverPid),
    closed: await closedCount(),
  };
  samples.push(s);
  log(
    `${s.min.toFixed(1)} min: ${runs.length} started, ${s.closed} closed, ${runs.filter((r) => r.problem).length} problems, worker RSS ${s.rss} MB (live heap ${s.heap} MB), server RSS ${s.serverRss.toFixed(0)} MB`,
  );
};
await sample();
const sampler = setInterval(() => void sample(), 30_000);
const inFlight: Array<Promise<void>> = [];
while (Date.now() < end) {
  inFlight.push(startOne(pick()));
  await sleep((N.gap - 0.5 + random()) * 1000);
}
clearInterval(sampler);
await sample();
const wall = (Date.now() - t0) / 1000;
const cpu = { server: cpuSeconds(serverPid) - cpu0.server, worker: cpuSeconds(worker.pid) - cpu0.worker };
log(`starts stopped after ${N.minutes} min; waiting for the last decisions and runs`);
await Promise.all(inFlight);
await Promise.all(decisions);

// Every run, classified by how it ended against what its kind must give.
await pool(
  runs.filter((r) => r.id),
  5,
  async (run) => {
    const h = client.temporal.workflow.getHandle(run.id!);
    const failure = await Promise.race([
      h.result().then(
        () => undefined,
        (err: Error & { cause?: { type?: string } }) => err,
      ),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref()),
    ]);
    const d = await h.describe();
    const st = runState(d.status.name, d.typedSearchAttributes.get(RunbookPhase));
    const type = failure && failure !== 'timeout' ? failure.cause?.type : undefined;
    run.outcome = `${st}${type ? ` (${type})` : ''}`;
    const want = expected[run.kind];
    run.ok = !run.problem && st === want.state && type === want.type;
    if (!run.ok && failure && failure !== 'timeout') run.problem ??= failureText(failure);
  },
);
const rssAfterDrain = worker.rss();

const base = samples.find((s) => s.min >= N.warmup - 0.01) ?? samples[0]!;
const after = samples.filter((s) => s.min >= base.min);
const max = Math.max(...after.map((s) => s.rss));
const final = samples.at(-1)!.rss;
const growth = (x: number, of = base.rss) => (100 * (x - of)) / of;
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;
const heapMax = Math.max(...after.map((s) => s.heap));
// RSS saws up and down with collections: compare 5-minute windows (median and max), not single samples.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const firstWindow = after.filter((s) => s.min < base.min + 5).map((s) => s.rss);
const lastWindow = samples.filter((s) => s.min >= samples.at(-1)!.min - 5).map((s) => s.rss);
const heapFinal = samples.at(-1)!.heap;
const bad = runs.filter((r) => !r.ok);
const shouldHaveSucceeded = bad.filter((r) => expected[r.kind].state === 'completed');
const rows = mix.map(([k]) => {
  const of = runs.filter((r) => r.kind === k);
  const outcomes = [...new Set(of.map((r) => r.outcome ?? 'not started'))]
    .map((o) => `${o} ${of.filter((r) => (r.outcome ?? 'not started') === o).length}`)
    .join(', ');
  return `| ${k} | ${expected[k].state}${expected[k].type ? ` (${expected[k].type})` : ''} | ${of.length} | ${of.filter((r) => r.ok).length} | ${of.length - of.filter((r) => r.ok).length} | ${outcomes} |`;
});
for (const r of bad.slice(0, 20)) log(`unexpected: ${r.kind} ${r.id ?? ''}: ${r.outcome ?? ''} ${r.problem ?? ''}`);
const load1 = os.loadavg();
const f = (x: number, d = 0) => x.toFixed(d);
console.log(`### Soak: ${N.minutes} minutes of mixed runbooks with random decisions, one worker (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})

Command: \`npx tsx bench/soak.ts --minutes ${N.minutes} --warmup ${N.warmup} --gap ${N.gap} --cache ${N.cache} --seed ${N.seed}\`. One start every ${f(N.gap - 0.5, 1)}–${f(N.gap + 0.5, 1)} s;
one worker process (\`maxCachedWorkflows\` ${N.cache}), dev server, PostgreSQL and this client on the same machine. Load average at start
${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}.

| runbook / decision | must end as | started | as expected | not | outcomes |
|---|---|---|---|---|---|
${rows.join('\n')}
| **all** | | ${runs.length} | ${runs.length - bad.length} | ${bad.length} | |

| measure | result |
|---|---|
| runs that failed but should have succeeded | ${shouldHaveSucceeded.length} |
| worker RSS baseline (at ${f(base.min, 1)} min, after warm-up) | ${f(base.rss)} MB |
| worker RSS max after the baseline / at the end (${f(samples.at(-1)!.min, 1)} min) / after the last runs closed | ${f(max)} / ${f(final)} / ${f(rssAfterDrain)} MB |
| RSS growth from the baseline: at the end / at the max | ${growth(final) >= 0 ? '+' : ''}${f(growth(final), 1)} % / ${growth(max) >= 0 ? '+' : ''}${f(growth(max), 1)} % |
| worker RSS, 5 minutes after the baseline vs the last 5 minutes: median / max | ${f(median(firstWindow))} / ${f(Math.max(...firstWindow))} → ${f(median(lastWindow))} / ${f(Math.max(...lastWindow))} MB (${pct(growth(median(lastWindow), median(firstWindow)))} / ${pct(growth(Math.max(...lastWindow), Math.max(...firstWindow)))}) |
| worker RSS samples (MB, every 30 s) | ${samples.map((s) => f(s.rss)).join(' ')} |
| worker heap in use after a full GC: baseline / max after it / at the end | ${f(base.heap, 1)} / ${f(heapMax, 1)} / ${f(heapFinal, 1)} MB (${pct(growth(heapFinal, base.heap))} at the end, ${pct(growth(heapMax, base.heap))} at the max) |
| worker live-heap samples (MB, every 30 s) | ${samples.map((s) => f(s.heap, 1)).join(' ')} |
| Temporal dev server RSS: start / end | ${f(samples[0]!.serverRss)} / ${f(samples.at(-1)!.serverRss)} MB |
| CPU over the soak: worker / dev server | ${f((100 * cpu.worker) / wall)} % / ${f((100 * cpu.server) / wall)} % of one core |
| decisions retried because the gate was not open yet | ${decideRetries} |
`);
await worker.stop();
await connection.close();
await server.stop();
