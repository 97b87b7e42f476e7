/**
 * Load (issue #8): runs parked at gates, then many concurrent db-access runs, on one worker process.
 *   npx tsx bench/load.ts [--runs 1000] [--parked 500] [--clients 20] [--cache 500] [--activity-slots 20] [--alembic]
 * Own headless dev server (port 17000-17999) and one worker process (maxCachedWorkflows --cache,
 * concurrent activities capped at --activity-slots so the db-access steps cannot take every
 * connection of the shared PostgreSQL; 0 = the SDK's 100). Target: 127.0.0.1:5432 database `test`;
 * with --alembic also the fixture app's alembic directory (two python3 processes per run).
 * A: park --parked approval-drill runs at their gate; warm-up: 20 db-access runs.
 * B: with those parked, start --runs db-access runs (--clients starts in flight) and wait for all.
 * C: approve half the parked runs, abort the other half; check each ends as it should.
 * Progress on stderr; prints a Markdown block for bench/RESULTS.md.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { stringify } from 'yaml';
import { runState } from '../src/client.js';
import { RunbookPhase } from '../src/search-attributes.js';
import { TargetRegistry } from '../src/targets.js';
import { benchServer, cpuSeconds, parkAt, pool, rssOf, sleep, startWorkerProcess } from './harness.js';
import { percentile } from './stats.js';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '1000' }, parked: { type: 'string', default: '500' }, clients: { type: 'string', default: '20' },
  cache: { type: 'string', default: '500' }, 'activity-slots': { type: 'string', default: '20' }, alembic: { type: 'boolean', default: false },
} });
const N = { runs: Number(values.runs), parked: Number(values.parked), clients: Number(values.clients), cache: Number(values.cache), slots: Number(values['activity-slots']) };
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

Runtime.install({ logger: new DefaultLogger('ERROR') });
const load0 = os.loadavg();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-load-'));
const targetsFile = path.join(dir, 'targets.yaml');
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
writeFileSync(targetsFile, stringify({ targets: {
  bench: { policy: { unsignedDecisions: 'allow', deadline: '2h' } },
  'bench-db': { postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' }, ...(values.alembic ? { alembic: { dir: app } } : {}) },
} }));
const targets = TargetRegistry.load(targetsFile);
const { server, serverPid, bundlePath, connection, taskQueue, client } = await benchServer(dir, targets, 'bench-load');
const count = async (where: string) => (await client.temporal.workflow.count(`TaskQueue = "${taskQueue}" AND ${where}`)).count;
const worker = startWorkerProcess({ address: server.address, taskQueue, targetsFile, bundlePath, maxCachedWorkflows: N.cache, activitySlots: N.slots });
await worker.ready();
await sleep(2000);
const rssIdle = worker.rss();
log(`dev server ${server.address} (pid ${serverPid}), worker pid ${worker.pid}, idle RSS ${rssIdle} MB`);

// A: parked runs, then a warm-up of db-access runs (loads their code paths and pg).
let t = performance.now();
const parked = await parkAt(client, taskQueue, N.parked);
log(`A: ${parked.length} runs parked at their gate in ${((performance.now() - t) / 1000).toFixed(1)} s, worker RSS ${worker.rss()} MB`);
const dbAccess = async (initiator: string) => (await client.start('db-access', { target: 'bench-db', initiator })).id;
await pool(Array.from({ length: 20 }), 5, async () => { await client.temporal.workflow.getHandle(await dbAccess('warmup')).result(); });
await sleep(3000);
const rssWarm = worker.rss();
log(`warm-up: 20 db-access runs done, worker RSS ${rssWarm} MB`);

// B: the concurrent db-access runs, parked runs still open. Samples RSS and our PostgreSQL sessions each second.
const pgc = new pg.Client({ host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres', application_name: 'bench-load-sampler' });
await pgc.connect();
let rssMax = 0;
let pgMax = 0;
const sampler = setInterval(() => {
  rssMax = Math.max(rssMax, worker.rss());
  pgc.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'durable-runbooks'").then((r) => { pgMax = Math.max(pgMax, r.rows[0]!.n); }, () => undefined);
}, 1000);
const cpu0 = { server: cpuSeconds(serverPid), worker: cpuSeconds(worker.pid), bench: process.cpuUsage() };
const t0 = Date.now();
const ids: string[] = [];
let startsDone = 0;
const starting = pool(Array.from({ length: N.runs }), N.clients, async () => { ids.push(await dbAccess('load')); startsDone++; })
  .then(() => log(`B: all ${N.runs} started in ${((Date.now() - t0) / 1000).toFixed(1)} s`));
const closedQuery = `RunbookInitiator = "load" AND ExecutionStatus != "Running"`;
let closed = 0;
let lastLog = 0;
while (closed < N.runs) {
  await sleep(250);
  closed = await count(closedQuery);
  if (Date.now() - lastLog > 5000) {
    lastLog = Date.now();
    log(`B: ${startsDone} started, ${closed} closed, worker RSS ${worker.rss()} MB, server CPU ${(cpuSeconds(serverPid) - cpu0.server).toFixed(0)} s`);
  }
  if (Date.now() - t0 > 30 * 60_000) throw new Error(`B: only ${closed} of ${N.runs} closed after 30 min`);
}
await starting;
const wallB = (Date.now() - t0) / 1000;
const cpuB = { server: cpuSeconds(serverPid) - cpu0.server, worker: cpuSeconds(worker.pid) - cpu0.worker, bench: (() => { const u = process.cpuUsage(cpu0.bench); return (u.user + u.system) / 1e6; })() };
clearInterval(sampler);
await pgc.end();
const rssEnd = worker.rss();
const completedB = await count(`RunbookInitiator = "load" AND ExecutionStatus = "Completed"`);
const stillParked = await count(`RunbookPhase = "awaiting-approval" AND ExecutionStatus = "Running"`);
log(`B: ${closed} closed (${completedB} completed) in ${wallB.toFixed(1)} s; ${stillParked} runs still parked; worker RSS ${rssEnd} MB`);

// Latencies from the histories of every run of B (event times are the server's).
const ms = (ts: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null | undefined) => Number(ts?.seconds?.toString() ?? 0) * 1000 + (ts?.nanos ?? 0) / 1e6;
const step: number[] = [];
const queued: number[] = [];
const executing: number[] = [];
const wftQueued: number[] = [];
const wftWorking: number[] = [];
const perRun: number[] = [];
let lastClose = 0;
await pool(ids, 10, async (id) => {
  const events = (await client.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
  const scheduled = new Map<string, number>();
  const started = new Map<string, number>();
  for (const e of events) {
    const at = ms(e.eventTime);
    if (e.activityTaskScheduledEventAttributes || e.workflowTaskScheduledEventAttributes) scheduled.set(String(e.eventId), at);
    const ws = e.workflowTaskStartedEventAttributes?.scheduledEventId;
    if (ws != null) { wftQueued.push(at - scheduled.get(String(ws))!); started.set(String(e.eventId), at); }
    const wc = e.workflowTaskCompletedEventAttributes?.startedEventId;
    if (wc != null) wftWorking.push(at - started.get(String(wc))!);
    const s = e.activityTaskStartedEventAttributes?.scheduledEventId;
    if (s != null) { queued.push(at - scheduled.get(String(s))!); started.set(String(s), at); }
    const c = e.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (c != null) { step.push(at - scheduled.get(String(c))!); executing.push(at - started.get(String(c))!); }
  }
  const first = ms(events[0]?.eventTime);
  const last = ms(events.at(-1)?.eventTime);
  perRun.push(last - first);
  lastClose = Math.max(lastClose, last);
});
const total = (lastClose - t0) / 1000;
log(`histories read: ${step.length} steps of ${ids.length} runs`);

// C: release the parked runs: half approved, half aborted; each must end as decided.
t = performance.now();
const approve = new Set(parked.filter((_, i) => i % 2 === 0));
const refused: string[] = [];
await pool(parked, N.clients, async (id) => {
  try {
    if (approve.has(id)) await client.decide(id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
    else await client.abort(id, 'bob', 'load bench: released');
  } catch (err) {
    refused.push(`${id}: ${(err as Error).message}`);
  }
});
const outcomes = await pool(parked, 10, async (id) => {
  const h = client.temporal.workflow.getHandle(id);
  await h.result().catch(() => undefined);
  const d = await h.describe();
  return runState(d.status.name, d.typedSearchAttributes.get(RunbookPhase)) === (approve.has(id) ? 'completed' : 'aborted');
});
const releasedOk = outcomes.filter(Boolean).length;
log(`C: ${parked.length} released in ${((performance.now() - t) / 1000).toFixed(1)} s, ${releasedOk} ended as decided, ${refused.length} decisions refused`);
for (const r of refused.slice(0, 5)) log(`  refused: ${r}`);

const load1 = os.loadavg();
const f = (x: number, d = 0) => x.toFixed(d);
console.log(`### Load: ${N.runs} concurrent db-access runs with ${N.parked} parked at gates, one worker (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})

Command: \`npx tsx bench/load.ts --runs ${N.runs} --parked ${N.parked} --clients ${N.clients} --cache ${N.cache} --activity-slots ${N.slots}${values.alembic ? ' --alembic' : ''}\`. One run, one worker process
(\`maxCachedWorkflows\` ${N.cache}, ${N.slots > 0 ? `${N.slots} concurrent activities` : 'SDK default activity slots'}), dev server, PostgreSQL and this client on the same machine;
db-access target: PostgreSQL only${values.alembic ? ' + alembic directory' : ' (no alembic directory: the alembic-heads step is skipped)'}. ${N.clients} starts in flight. Load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}.

| measure | result |
|---|---|
| ${N.runs} db-access runs: first start → last run closed | ${f(total, 1)} s (${f(N.runs / total, 1)} runs/s) |
| of which completed | ${completedB} of ${N.runs} |
| step latency (activity scheduled → completed, server event times, all ${step.length} steps), p50 / p99 | ${f(percentile(step, 50))} ms / ${f(percentile(step, 99))} ms |
| of which waiting in the task queue (scheduled → started), p50 / p99 | ${f(percentile(queued, 50))} ms / ${f(percentile(queued, 99))} ms |
| of which executing on the worker until the server has the result (started → completed), p50 / p99 | ${f(percentile(executing, 50))} ms / ${f(percentile(executing, 99))} ms |
| workflow tasks (${wftQueued.length}): scheduled → started, p50 / p99 | ${f(percentile(wftQueued, 50))} ms / ${f(percentile(wftQueued, 99))} ms |
| workflow tasks: started → completed (the worker's turn, replay included), p50 / p99 | ${f(percentile(wftWorking, 50))} ms / ${f(percentile(wftWorking, 99))} ms |
| run latency (execution started → closed), p50 / p99 | ${f(percentile(perRun, 50))} ms / ${f(percentile(perRun, 99))} ms |
| worker RSS: idle / after warm-up (${N.parked} parked + 20 runs) / max during B / after B | ${f(rssIdle)} / ${f(rssWarm)} / ${f(rssMax)} / ${f(rssEnd)} MB |
| Temporal dev server CPU during B | ${f(cpuB.server, 1)} s = ${f((100 * cpuB.server) / wallB)} % of one core (RSS now ${f(rssOf(serverPid))} MB) |
| worker process CPU during B | ${f(cpuB.worker, 1)} s = ${f((100 * cpuB.worker) / wallB)} % of one core |
| this client process CPU during B | ${f(cpuB.bench, 1)} s = ${f((100 * cpuB.bench) / wallB)} % of one core |
| worker's PostgreSQL sessions, max (sampled each second) | ${pgMax} |
| parked runs still at their gate after B | ${stillParked} of ${N.parked} |
| parked runs released after B (½ approved, ½ aborted), ended as decided | ${releasedOk} of ${N.parked} (${refused.length} decisions refused) |
`);
await worker.stop();
await connection.close();
await server.stop();
