/**
 * Load (issues #8, #21): runs parked at gates, then repetitions of many concurrent db-access runs
 * started through the HTTP API, on one worker process (the compiled build, as production runs it).
 *   npx tsx bench/load.ts [--runs 1000] [--parked 500] [--clients 20] [--cache 500] [--activity-slots 20] [--repeat 3] [--dist DIR] [--alembic]
 * Own headless dev server (port 17000-17999) and one worker process: our compiled worker
 * (`npm run build` into a temporary directory, or --dist DIR of an earlier build; plain node,
 * prebuilt bundle), maxCachedWorkflows --cache, concurrent activities capped at --activity-slots
 * so the db-access steps cannot take every connection of the shared PostgreSQL (0 = the SDK's 100).
 * The API runs in this process (rate limit raised out of the way), with a dev token.
 * Target: 127.0.0.1:5432 database `test`; with --alembic also the fixture app's alembic directory
 * (two python3 processes per run).
 * A: park --parked approval-drill runs at their gate; warm-up: 20 db-access runs.
 * B, --repeat times: with those parked, POST --runs db-access runs to the API (--clients requests
 *    in flight) and wait for all to close. Two rates: starts per second through the HTTP API
 *    (runs / first request sent → last 201 received) and runs completed per second (runs / first
 *    request sent → last run closed, by the server's close event times).
 * C: approve half the parked runs, abort the other half; check each ends as it should.
 * Progress on stderr; prints a Markdown block for bench/RESULTS.md.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { stringify } from 'yaml';
import { ensureDevTokens, TokenStore } from '../src/api/auth.js';
import { buildApi } from '../src/api/server.js';
import { runState } from '../src/client.js';
import { RunbookPhase } from '../src/contract/search-attributes.js';
import { TargetRegistry } from '../src/targets.js';
import { benchServer, compiledBuild, cpuSeconds, parkAt, pool, rssOf, sleep, startWorkerProcess } from './harness.js';
import { median, percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    parked: { type: 'string', default: '500' },
    clients: { type: 'string', default: '20' },
    cache: { type: 'string', default: '500' },
    'activity-slots': { type: 'string', default: '20' },
    repeat: { type: 'string', default: '3' },
    dist: { type: 'string' },
    alembic: { type: 'boolean', default: false },
  },
});
const N = {
  runs: Number(values.runs),
  parked: Number(values.parked),
  clients: Number(values.clients),
  cache: Number(values.cache),
  slots: Number(values['activity-slots']),
  repeat: Number(values.repeat),
};
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

Runtime.install({ logger: new DefaultLogger('ERROR') });
const load0 = os.loadavg();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-load-'));
const targetsFile = path.join(dir, 'targets.yaml');
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
// Unsigned starts and decisions allowed, as in the tests' targets: the API here has no signing key (signing is not measured).
const policy = { unsignedStarts: 'allow', unsignedDecisions: 'allow' };
writeFileSync(
  targetsFile,
  stringify({
    targets: {
      bench: { policy: { ...policy, deadline: '2h' } },
      'bench-db': {
        policy,
        postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' },
        ...(values.alembic ? { alembic: { dir: app } } : {}),
      },
    },
  }),
);
const targets = TargetRegistry.load(targetsFile);
const dist = values.dist ? path.resolve(values.dist) : await compiledBuild(path.join(dir, 'build'));
const { server, serverPid, connection, taskQueue, client } = await benchServer(dir, targets, 'bench-load');
const count = async (where: string) =>
  (await client.temporal.workflow.count(`TaskQueue = "${taskQueue}" AND ${where}`)).count;
const worker = startWorkerProcess({
  address: server.address,
  taskQueue,
  targetsFile,
  dist,
  maxCachedWorkflows: N.cache,
  activitySlots: N.slots,
});
await worker.ready();
await sleep(2000);
const rssIdle = worker.rss();
log(
  `dev server ${server.address} (pid ${serverPid}), compiled worker pid ${worker.pid} (${dist}), idle RSS ${rssIdle} MB`,
);
const dev = ensureDevTokens(dir);
const token = (JSON.parse(readFileSync(dev.plainFile, 'utf8')) as { alice: string }).alice;
const api = await buildApi({ client, tokens: TokenStore.load(dev.tokensFile), rateLimit: 1_000_000 });
await api.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;

// A: parked runs, then a warm-up of db-access runs (loads their code paths and pg).
let t = performance.now();
const parked = await parkAt(client, taskQueue, N.parked);
log(
  `A: ${parked.length} runs parked at their gate in ${((performance.now() - t) / 1000).toFixed(1)} s, worker RSS ${worker.rss()} MB`,
);
const dbAccess = async (initiator: string) => (await client.start('db-access', { target: 'bench-db', initiator })).id;
await pool(Array.from({ length: 20 }), 5, async () => {
  await client.temporal.workflow.getHandle(await dbAccess('warmup')).result();
});
await sleep(3000);
const rssWarm = worker.rss();
log(`warm-up: 20 db-access runs done, worker RSS ${rssWarm} MB`);

// B, repeated: the concurrent db-access runs through the API, parked runs still open. Samples RSS and our PostgreSQL sessions each second.
const ms = (ts: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null | undefined) =>
  Number(ts?.seconds?.toString() ?? 0) * 1000 + (ts?.nanos ?? 0) / 1e6;
interface Rep {
  startsPerS: number;
  completedPerS: number;
  startsS: number;
  totalS: number;
  completed: number;
  step: number[];
  queued: number[];
  executing: number[];
  wftQueued: number[];
  wftWorking: number[];
  perRun: number[];
  rssMax: number;
  rssEnd: number;
  pgMax: number;
  cpu: { server: number; worker: number; bench: number };
  wall: number;
  loadavg: number;
}
const reps: Rep[] = [];
const apiClosed = `RunbookName = "db-access" AND RunbookInitiator = "alice" AND ExecutionStatus != "Running"`;
for (let r = 0; r < N.repeat; r++) {
  const loadavg = os.loadavg()[0]!;
  const closedBefore = await count(apiClosed);
  const pgc = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    database: 'test',
    user: 'postgres',
    application_name: 'bench-load-sampler',
  });
  await pgc.connect();
  let rssMax = 0;
  let pgMax = 0;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, worker.rss());
    pgc
      .query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = 'durable-runbooks'",
      )
      .then(
        (res) => {
          pgMax = Math.max(pgMax, res.rows[0]!.n);
        },
        () => undefined,
      );
  }, 1000);
  const cpu0 = { server: cpuSeconds(serverPid), worker: cpuSeconds(worker.pid), bench: process.cpuUsage() };
  const t0 = Date.now();
  let startsDone = 0;
  let startsMs = NaN;
  const starting = pool(Array.from({ length: N.runs }), N.clients, async () => {
    const res = await fetch(`${base}/runbooks/db-access/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'bench-db' }),
    });
    if (res.status !== 201) throw new Error(`start answered ${res.status}: ${await res.text()}`);
    startsDone++;
    return ((await res.json()) as { id: string }).id;
  }).then((ids) => {
    startsMs = Date.now() - t0;
    log(`B${r + 1}: all ${N.runs} accepted by the API in ${(startsMs / 1000).toFixed(1)} s`);
    return ids;
  });
  let closed = 0;
  let lastLog = 0;
  while (closed < N.runs) {
    await sleep(250);
    closed = (await count(apiClosed)) - closedBefore;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(
        `B${r + 1}: ${startsDone} started, ${closed} closed, worker RSS ${worker.rss()} MB, server CPU ${(cpuSeconds(serverPid) - cpu0.server).toFixed(0)} s`,
      );
    }
    if (Date.now() - t0 > 30 * 60_000) throw new Error(`B${r + 1}: only ${closed} of ${N.runs} closed after 30 min`);
  }
  const ids = await starting;
  const wall = (Date.now() - t0) / 1000;
  const cpu = {
    server: cpuSeconds(serverPid) - cpu0.server,
    worker: cpuSeconds(worker.pid) - cpu0.worker,
    bench: (() => {
      const u = process.cpuUsage(cpu0.bench);
      return (u.user + u.system) / 1e6;
    })(),
  };
  clearInterval(sampler);
  await pgc.end();
  const completed = await pool(
    ids,
    10,
    async (id) => (await client.temporal.workflow.getHandle(id).describe()).status.name === 'COMPLETED',
  ).then((xs) => xs.filter(Boolean).length);

  // Latencies from the histories of every run of this repetition (event times are the server's).
  const rep: Rep = {
    startsPerS: N.runs / (startsMs / 1000),
    completedPerS: 0,
    startsS: startsMs / 1000,
    totalS: 0,
    completed,
    step: [],
    queued: [],
    executing: [],
    wftQueued: [],
    wftWorking: [],
    perRun: [],
    rssMax,
    rssEnd: worker.rss(),
    pgMax,
    cpu,
    wall,
    loadavg,
  };
  let lastClose = 0;
  await pool(ids, 10, async (id) => {
    const events = (await client.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    const scheduled = new Map<string, number>();
    const started = new Map<string, number>();
    for (const e of events) {
      const at = ms(e.eventTime);
      if (e.activityTaskScheduledEventAttributes || e.workflowTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), at);
      const ws = e.workflowTaskStartedEventAttributes?.scheduledEventId;
      if (ws != null) {
        rep.wftQueued.push(at - scheduled.get(String(ws))!);
        started.set(String(e.eventId), at);
      }
      const wc = e.workflowTaskCompletedEventAttributes?.startedEventId;
      if (wc != null) rep.wftWorking.push(at - started.get(String(wc))!);
      const s = e.activityTaskStartedEventAttributes?.scheduledEventId;
      if (s != null) {
        rep.queued.push(at - scheduled.get(String(s))!);
        started.set(String(s), at);
      }
      const c = e.activityTaskCompletedEventAttributes?.scheduledEventId;
      if (c != null) {
        rep.step.push(at - scheduled.get(String(c))!);
        rep.executing.push(at - started.get(String(c))!);
      }
    }
    rep.perRun.push(ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime));
    lastClose = Math.max(lastClose, ms(events.at(-1)?.eventTime));
  });
  rep.totalS = (lastClose - t0) / 1000;
  rep.completedPerS = N.runs / rep.totalS;
  reps.push(rep);
  log(
    `B${r + 1}: ${closed} closed (${completed} completed); ${rep.startsPerS.toFixed(1)} starts/s through the API, ${rep.completedPerS.toFixed(1)} runs completed/s; worker RSS ${rep.rssEnd} MB`,
  );
}
await api.close();
const stillParked = await count(`RunbookPhase = "awaiting-approval" AND ExecutionStatus = "Running"`);

// C: release the parked runs: half approved, half aborted; each must end as decided.
t = performance.now();
const approve = new Set(parked.filter((_, i) => i % 2 === 0));
const refused: string[] = [];
await pool(parked, N.clients, async (id) => {
  try {
    if (approve.has(id))
      await client.decide(id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
    else await client.abort(id, 'bob', 'load bench: released');
  } catch (err) {
    refused.push(`${id}: ${(err as Error).message}`);
  }
});
const outcomes = await pool(parked, 10, async (id) => {
  const h = client.temporal.workflow.getHandle(id);
  await h.result().catch(() => undefined);
  const d = await h.describe();
  return (
    runState(d.status.name, d.typedSearchAttributes.get(RunbookPhase)) === (approve.has(id) ? 'completed' : 'aborted')
  );
});
const releasedOk = outcomes.filter(Boolean).length;
log(
  `C: ${parked.length} released in ${((performance.now() - t) / 1000).toFixed(1)} s, ${releasedOk} ended as decided, ${refused.length} decisions refused`,
);
for (const r of refused.slice(0, 5)) log(`  refused: ${r}`);

const load1 = os.loadavg();
const f = (x: number, d = 0) => x.toFixed(d);
/** median [min–max] over the repetitions. */
const over = (get: (r: Rep) => number, d = 0, unit = '') => {
  const xs = reps.map(get);
  return `${f(median(xs), d)}${unit} [${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)}]`;
};
const pq = (get: (r: Rep) => number[], unit = ' ms') =>
  `${over((r) => percentile(get(r), 50), 0, unit)} / ${over((r) => percentile(get(r), 99), 0, unit)}`;
const rows: Array<[string, string]> = [
  [
    `starts per second through the HTTP API (${N.runs} POSTs, ${N.clients} in flight; first sent → last 201)`,
    over((r) => r.startsPerS, 1, '/s'),
  ],
  ['runs completed per second (first POST sent → last run closed)', over((r) => r.completedPerS, 1, '/s')],
  [`of the ${N.runs} runs, completed`, over((r) => r.completed)],
  ['step latency (activity scheduled → completed, server event times), p50 / p99', pq((r) => r.step)],
  ['of which waiting in the task queue (scheduled → started), p50 / p99', pq((r) => r.queued)],
  [
    'of which executing on the worker until the server has the result (started → completed), p50 / p99',
    pq((r) => r.executing),
  ],
  ['workflow tasks: scheduled → started, p50 / p99', pq((r) => r.wftQueued)],
  ["workflow tasks: started → completed (the worker's turn, replay included), p50 / p99", pq((r) => r.wftWorking)],
  ['run latency (execution started → closed), p50 / p99', pq((r) => r.perRun)],
  ['worker RSS, max during the repetition', over((r) => r.rssMax, 0, ' MB')],
  ['Temporal dev server CPU during the repetition, % of one core', over((r) => (100 * r.cpu.server) / r.wall, 0, ' %')],
  ['worker process CPU during the repetition, % of one core', over((r) => (100 * r.cpu.worker) / r.wall, 0, ' %')],
  [
    'this process (API and client) CPU during the repetition, % of one core',
    over((r) => (100 * r.cpu.bench) / r.wall, 0, ' %'),
  ],
  ["worker's PostgreSQL sessions, max (sampled each second)", over((r) => r.pgMax)],
];
const out: string[] = [];
out.push(
  `### Load: ${N.runs} concurrent db-access runs through the HTTP API with ${N.parked} parked at gates, one compiled worker, ${N.repeat} repetitions (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})`,
  '',
);
out.push(
  `Command: \`npx tsx bench/load.ts --runs ${N.runs} --parked ${N.parked} --clients ${N.clients} --cache ${N.cache} --activity-slots ${N.slots} --repeat ${N.repeat}${values.dist ? ' --dist …' : ''}${values.alembic ? ' --alembic' : ''}\`. One worker process, the compiled build on plain node
(\`maxCachedWorkflows\` ${N.cache}, ${N.slots > 0 ? `${N.slots} concurrent activities` : 'SDK default activity slots'}), dev server, PostgreSQL, the API and this client on the same machine;
db-access target: PostgreSQL only${values.alembic ? ' + alembic directory' : ' (no alembic directory: the alembic-heads step is skipped)'}. Load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}.`,
  '',
);
out.push('| measure | median of the repetitions [min–max] |', '|---|---|');
for (const [label, v] of rows) out.push(`| ${label} | ${v} |`);
out.push(
  '',
  '| repetition | load (1 min) at its start | starts/s through the API | all accepted in | runs completed/s | all closed in | completed |',
  '|---|---|---|---|---|---|---|',
);
reps.forEach((r, i) =>
  out.push(
    `| ${i + 1} | ${f(r.loadavg, 2)} | ${f(r.startsPerS, 1)} | ${f(r.startsS, 1)} s | ${f(r.completedPerS, 1)} | ${f(r.totalS, 1)} s | ${r.completed} of ${N.runs} |`,
  ),
);
out.push(
  '',
  `Worker RSS: idle ${f(rssIdle)} MB, after warm-up (${N.parked} parked + 20 runs) ${f(rssWarm)} MB, at the end ${f(worker.rss())} MB; dev server RSS at the end ${f(rssOf(serverPid))} MB.`,
);
out.push(
  `Parked runs still at their gate after the repetitions: ${stillParked} of ${N.parked}; released (½ approved, ½ aborted), ended as decided: ${releasedOk} of ${N.parked} (${refused.length} decisions refused).`,
);
console.log(out.join('\n'));
await worker.stop();
await connection.close();
await server.stop();
