/**
 * Recovery time after a worker dies (issue #18): a worker process holding steps is killed with
 * SIGKILL; how long until each lost step starts again on the surviving worker.
 *   npx tsx bench/recovery.ts [--reps 5] [--baseline-reps 5] [--db-runs 10]
 * Each repetition: worker A (src/worker.ts, its own process) alone on a fresh queue takes two
 * restart-probe runs (test/fixtures/worker-loss-workflows), each a host-local service restart that
 * waits for its health check: one with today's activity options (10 s heartbeat timeout, the
 * worker's auto-heartbeat), one with the options before #18 (start-to-close 2 minutes, no heartbeat
 * timeout) — the baseline, in the same kill. Worker B starts on the queue, A is killed, and the
 * retry's start (attempt 2, the server's time from describe, checked against the history) minus the
 * kill is the figure. The baseline costs ~2 minutes a repetition; --baseline-reps runs it in fewer.
 * Also: how long the run's next workflow task, which A had cached (sticky queue), waited for B;
 * and --db-runs db-access runs started on both workers just before each kill: kill → completed.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';
import { startDevServer } from '../src/temporal/devserver.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { log, median, spread } from './stats.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    'baseline-reps': { type: 'string' },
    'db-runs': { type: 'string', default: '10' },
  },
});
const reps = Number(values.reps);
const baselineReps = Number(values['baseline-reps'] ?? values.reps);
const dbRuns = Number(values['db-runs']);
const repoRoot = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-recovery-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { EventType, PendingActivityState, TimeoutType } = proto.temporal.api.enums.v1;

type Side = 'now' | 'before18';
const services: Record<Side, string> = { now: 'svc-now', before18: 'svc-before18' };
const commandLog = (rep: number, side: Side) => path.join(dir, `${rep}-${side}.log`);
const healthy = (rep: number, side: Side) => path.join(dir, `healthy-${rep}-${side}`);

// Every repetition has services of its own (their command logs, their health file).
const targetsFile = path.join(dir, 'targets.yaml');
writeFileSync(
  targetsFile,
  stringify({
    targets: Object.fromEntries(
      Array.from({ length: reps }, (_, rep) => [
        `bench-${rep}`,
        {
          postgres: { host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres' },
          policy: { unsignedStarts: 'allow' },
          services: Object.fromEntries(
            (Object.keys(services) as Side[]).map((side) => [
              services[side],
              {
                command: {
                  stop: `echo stop >> ${commandLog(rep, side)}`,
                  start: `echo start >> ${commandLog(rep, side)}`,
                  status: `test -f ${healthy(rep, side)}`,
                },
                health: { timeout: '10m' },
              },
            ]),
          ),
        },
      ]),
    ),
  }),
);

log('starting a dev server and bundling the workflows');
const server = await startDevServer({
  cli: await resolveTemporalCli(),
  port: 17000 + Math.floor(Math.random() * 900),
  headless: true,
});
const bundlePath = path.join(dir, 'bundle.js');
writeFileSync(
  bundlePath,
  (
    await bundleWorkflowCode({
      workflowsPath: path.join(repoRoot, 'test/fixtures/worker-loss-workflows/index.ts'),
      workflowInterceptorModules,
      logger: new DefaultLogger('ERROR'),
    })
  ).code,
);
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
const procs: ResultPromise[] = [];

/** The real worker program, as `npm run worker` runs it; resolves once it polls. */
async function worker(taskQueue: string): Promise<{ proc: ResultPromise; identity: string }> {
  const proc = execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/worker.ts')], {
    cwd: repoRoot,
    reject: false,
    all: true,
    env: {
      TEMPORAL_ADDRESS: server.address,
      RUNBOOK_TASK_QUEUE: taskQueue,
      RUNBOOK_TARGETS: targetsFile,
      RUNBOOK_DATA_DIR: path.join(dir, 'data'),
      RUNBOOK_WORKFLOW_BUNDLE: bundlePath,
      LOG_LEVEL: 'warn',
    },
  });
  procs.push(proc);
  let out = '';
  proc.all?.on('data', (d: Buffer) => {
    out += d.toString();
    appendFileSync(path.join(dir, 'workers.log'), d);
  });
  for (const t0 = Date.now(); !out.includes('Worker polling task queue'); await sleep(100)) {
    if (Date.now() - t0 > 120_000 || proc.exitCode !== null)
      throw new Error(`worker did not start: ${out.slice(-2000)}`);
  }
  return { proc, identity: `${proc.pid}@${os.hostname()}` };
}

const pending = async (id: string) => (await client.workflow.getHandle(id).describe()).raw.pendingActivities?.[0];
/** The step's pending activity once its second attempt has started. */
async function retried(id: string) {
  for (;;) {
    const p = await pending(id);
    if (p && (p.attempt ?? 0) >= 2 && p.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) return p;
    await sleep(200);
  }
}
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);

interface Sample {
  retryS: number;
  stepAgeS: number;
  cause: string;
  historyRetryS: number;
  nextTaskWaitS: number;
  commands: string[];
}
const samples: Record<Side, Sample[]> = { now: [], before18: [] };
const loads: number[] = [];
/** db-access runs started on both workers just before each kill: how the rest of a run's work fares. */
const db: Array<{ completedS: number; lostStep: boolean; stickyTimedOut: boolean; startedTimedOut: boolean }> = [];

try {
  for (let rep = 0; rep < reps; rep++) {
    const sides: Side[] = rep < baselineReps ? ['now', 'before18'] : ['now'];
    const taskQueue = `recovery-${rep}-${Date.now()}`;
    const a = await worker(taskQueue);
    const ids = {} as Record<Side, string>;
    for (const side of sides) {
      ids[side] = `recovery-${rep}-${side}-${Date.now()}`;
      await client.workflow.start('restartProbe', {
        taskQueue,
        workflowId: ids[side],
        args: [{ target: `bench-${rep}`, initiator: 'bench', service: services[side], before18: side === 'before18' }],
      });
    }
    // Both restarts ran their commands on A and wait for health: A holds both steps.
    while (!sides.every((s) => lines(commandLog(rep, s)).length === 2)) await sleep(100);
    for (const side of sides)
      if ((await pending(ids[side]))?.lastWorkerIdentity !== a.identity)
        throw new Error(`${side}: the step is not held by worker A`);
    const b = await worker(taskQueue);
    const stepStarted = Object.fromEntries(
      await Promise.all(sides.map(async (s) => [s, ms((await pending(ids[s]))!.lastStartedTime)])),
    ) as Record<Side, number>;
    const dbIds = await Promise.all(
      Array.from({ length: dbRuns }, async (_, i) => {
        const id = `recovery-${rep}-db-${i}-${Date.now()}`;
        await client.workflow.start('dbAccess', {
          taskQueue,
          workflowId: id,
          args: [{ target: `bench-${rep}`, initiator: 'bench' }],
        });
        return id;
      }),
    );
    loads.push(os.loadavg()[0]!);
    const killedAt = Date.now();
    a.proc.kill('SIGKILL');
    await a.proc;
    log(
      `rep ${rep + 1}/${reps}: killed worker A (load ${os.loadavg()[0]!.toFixed(1)}); waiting for ${sides.join(' and ')} to start again on B`,
    );
    await Promise.all(
      sides.map(async (side) => {
        const p = await retried(ids[side]);
        if (p.lastWorkerIdentity !== b.identity)
          throw new Error(`${side}: attempt 2 ran on ${p.lastWorkerIdentity}, not worker B`);
        const retryS = (ms(p.lastStartedTime) - killedAt) / 1000;
        const t = p.lastFailure?.timeoutFailureInfo?.timeoutType;
        const cause =
          t === TimeoutType.TIMEOUT_TYPE_HEARTBEAT
            ? 'heartbeat timeout'
            : t === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
              ? 'start-to-close timeout'
              : String(p.lastFailure?.message);
        log(`  ${side}: attempt 2 started on B ${retryS.toFixed(1)} s after the kill (${cause})`);
        // Healthy now: the retry completes, and the run goes on from its workflow task on B.
        writeFileSync(healthy(rep, side), '');
        await client.workflow.getHandle(ids[side]).result();
        // The history's view: the restart's started event (its last attempt) and the workflow task after it.
        const events = (await client.workflow.getHandle(ids[side]).fetchHistory()).events!;
        const restart = events.find(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'serviceAction',
        )!;
        const started = events.find(
          (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === restart.eventId!.toString(),
        )!;
        const done = events.findIndex(
          (e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === restart.eventId!.toString(),
        );
        const scheduled = events.slice(done).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)!;
        const wftStarted = events.slice(done).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)!;
        if (started.activityTaskStartedEventAttributes!.attempt !== 2)
          throw new Error(
            `${side}: the restart's last attempt is ${started.activityTaskStartedEventAttributes!.attempt}, not 2`,
          );
        samples[side].push({
          retryS,
          stepAgeS: (killedAt - stepStarted[side]) / 1000,
          cause,
          historyRetryS: (ms(started.eventTime) - killedAt) / 1000,
          nextTaskWaitS: (ms(wftStarted.eventTime) - ms(scheduled.eventTime)) / 1000,
          commands: lines(commandLog(rep, side)),
        });
      }),
    );
    for (const id of dbIds) {
      await client.workflow.getHandle(id).result();
      const events = (await client.workflow.getHandle(id).fetchHistory()).events!;
      db.push({
        completedS: (ms(events.at(-1)!.eventTime) - killedAt) / 1000,
        lostStep: events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1),
        stickyTimedOut: events.some(
          (e) => e.workflowTaskTimedOutEventAttributes?.timeoutType === TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
        ),
        startedTimedOut: events.some(
          (e) => e.workflowTaskTimedOutEventAttributes?.timeoutType === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE,
        ),
      });
    }
    b.proc.kill('SIGTERM');
    await b.proc;
  }
} finally {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.allSettled(procs);
  await connection.close();
  await server.stop();
}

const f = (xs: number[]) => `${median(xs).toFixed(1)} s ${spread(xs)}`;
const row = (side: Side, label: string) => {
  const s = samples[side];
  if (s.length === 0) return '';
  const causes = [...new Set(s.map((x) => x.cause))].join(', ');
  const once = s.every((x) => x.commands.join(',') === 'stop,start')
    ? 'yes'
    : `NO: ${s.map((x) => x.commands.join(',')).join(' / ')}`;
  return `| ${label} | ${s.length} | ${f(s.map((x) => x.retryS))} | ${f(s.map((x) => x.historyRetryS))} | ${f(s.map((x) => x.stepAgeS))} | ${causes} | ${f(s.map((x) => x.nextTaskWaitS))} | ${once} |`;
};
console.log(`### Recovery time after a worker dies (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version})

Command: \`npx tsx bench/recovery.ts --reps ${reps} --baseline-reps ${baselineReps}\`; median [min–max] over the kills. Load average (1 min) at the kills: ${median(loads).toFixed(1)} [${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}].

| activity options | kills | kill → lost step started on the survivor (describe) | same, from the history | step's age at the kill | what ended attempt 1 | next workflow task: scheduled → started on the survivor | restart commands ran once |
|---|---|---|---|---|---|---|---|
${row('now', 'today: heartbeat timeout 10 s, auto-heartbeat')}
${row('before18', 'before #18: start-to-close 2 min, no heartbeat timeout')}

| db-access runs started on both workers just before each kill | runs | kill → run completed | runs that lost a step (retried) | a workflow task timed out in the dead worker's sticky queue | a workflow task timed out started on the dead worker |
|---|---|---|---|---|---|
| today's options | ${db.length} | ${db.length ? f(db.map((d) => d.completedS)) : '–'} | ${db.filter((d) => d.lostStep).length} | ${db.filter((d) => d.stickyTimedOut).length} | ${db.filter((d) => d.startedTimedOut).length} |
`);
