import { Client, Connection } from '@temporalio/client';
import { RunbookClient, type RunView } from '../../src/client.js';
import { TargetRegistry } from '../../src/targets.js';
import { statusQuery } from '../../src/contract/messages.js';
import { startRig, tmpDir, uniqueName, writeTargets, type TestRig } from '../support/harness.js';
import { workerProcesses } from '../support/worker-process.js';
import { heartbeating, type Achieved, type Fixture, type Scenario } from './scenarios.js';
import { dbState, stateDiff } from './state.js';
import { serverOptions } from '../support/temporal.js';

/**
 * Crash tests: a runbook run on a fresh fixture while its only worker — a real process — kills
 * itself with SIGKILL at one point (src/util/chaos.ts); a fresh worker then takes over. The outcome is
 * compared with an uninterrupted run of the same fixture: the same database state and the same
 * destructive actions by the target's own records.
 */

// Short timeouts: a step lost with the killed worker is retried within seconds, not minutes.
const retry = {
  initialInterval: '200 ms',
  maximumAttempts: 4,
  activityTimeout: '20 seconds',
  heartbeatTimeout: '5 seconds',
};

export interface Outcome extends Achieved {
  error?: string;
  /** Activity types in the order the run scheduled them (the baseline's give the kill points). */
  activities: string[];
}

/** Answers every gate as the fixture says and the root-cause question, until the run ends. */
async function drive(
  client: RunbookClient,
  id: string,
  fx: Fixture,
  recoveries: string[] = [],
  timeoutMs = 240_000,
): Promise<RunView> {
  const handle = client.temporal.workflow.getHandle(id);
  const decided = new Map<string, number>();
  let noted = false;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`Run ${id} did not end within ${timeoutMs} ms`);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return client.status(id);
    try {
      // Queries need a worker: while the killed one is being replaced they time out; try again.
      const run = await client.status(id);
      for (const g of run.pendingGates) {
        const key = `${g.gate}@${g.openedAt ?? ''}`;
        if ((decided.get(key) ?? 0) > 0) continue;
        if (g.kind === 'recovery') recoveries.push(g.gate);
        const a = fx.answer(g.gate);
        await client.decide(id, g.gate, { decision: a.decision, comment: a.comment }, a.by);
        decided.set(key, 1);
      }
      if (fx.rootCause && !noted && (await handle.query(statusQuery)).currentStep === 'root-cause') {
        await client.rootCause(id, 'carol', fx.rootCause);
        noted = true;
      }
    } catch {
      /* the worker is gone or the gate just closed: look again */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function activitiesOf(client: RunbookClient, id: string): Promise<string[]> {
  const history = await client.temporal.workflow.getHandle(id).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes?.activityType?.name
      ? [e.activityTaskScheduledEventAttributes.activityType.name]
      : [],
  );
}

function clientFor(connection: Connection, taskQueue: string, targetsFile: string): RunbookClient {
  return new RunbookClient(new Client({ connection }), {
    taskQueue,
    namespace: 'default',
    uiUrl: 'http://x',
    targets: () => TargetRegistry.load(targetsFile),
  });
}

async function outcomeOf(
  client: RunbookClient,
  id: string,
  run: RunView,
  fx: Fixture,
  scenario: Scenario,
  sinceS: number,
): Promise<Outcome> {
  const result = run.result as { healthy?: boolean; findings?: { outcome?: string } } | undefined;
  const rename = scenario.generated?.(run.result) ?? {};
  const records = await fx.records(sinceS);
  if (Array.isArray(records.migrationSteps))
    records.migrationSteps = (records.migrationSteps as string[]).map((s) =>
      Object.entries(rename).reduce((acc, [f, t]) => acc.split(f).join(t), s),
    );
  return {
    status: run.status,
    outcome: result?.findings?.outcome,
    healthy: result?.healthy,
    error: run.error,
    state: await dbState(fx.live, rename),
    records,
    activities: await activitiesOf(client, id),
  };
}

/** One uninterrupted run on a fresh fixture, with an in-process worker. */
export async function baseline(scenario: Scenario): Promise<Outcome> {
  const fx = await scenario.setup();
  // A target name of its own per run: a target's lock lives in a workflow on the queue of the worker that first took it.
  const target = uniqueName('chaos').replace(/_/g, '-');
  const file = writeTargets({ [target]: fx.target });
  const rig = await startRig(file);
  try {
    const sinceS = Date.now() / 1000;
    const { id } = await rig.client.start(scenario.runbook, {
      target,
      initiator: 'alice',
      input: { retry, ...fx.input },
    });
    const run = await drive(rig.client, id, fx);
    return await outcomeOf(rig.client, id, run, fx, scenario, sinceS);
  } finally {
    await rig.stop();
    await fx.cleanup();
  }
}

/** Kill points from a baseline's activities: before and after each execution, and after the first heartbeat of the long ones. */
export function killPoints(activities: string[]): string[] {
  const seen = new Map<string, number>();
  return activities.flatMap((a) => {
    const k = (seen.get(a) ?? 0) + 1;
    seen.set(a, k);
    const at = k === 1 ? a : `${a}#${k}`;
    return [`before:${at}`, ...(heartbeating.has(a) ? [`beat:${at}:1`] : []), `after:${at}`];
  });
}

/** Activities that change something (the target, its databases, dumps, queues, services, the lock). */
const MUTATING = new Set([
  'acquireTargetLock',
  'releaseTargetLock',
  'pgFreezeReadOnly',
  'pgUnfreeze',
  'pgSnapshot',
  'pgDumpBackup',
  'pgClone',
  'pgCreateEmpty',
  'pgDropManaged',
  'pgExecute',
  'pgRestoreInto',
  'pgSwap',
  'alembicMigrate',
  'alembicWorkCopy',
  'importsReenqueue',
  'importsClearStaleLocks',
  'importsEndBlockingSessions',
  'serviceAction',
  'pgRetryAsApp',
]);

/**
 * At most `max` of the points, the riskiest first — right after a change (done, not yet reported),
 * inside a long one, right before one — then the rest; returned in the run's order.
 */
export function choosePoints(all: string[], max: number): string[] {
  const chosen = new Set(
    [...all].sort((a, b) => riskRank(a) - riskRank(b) || all.indexOf(a) - all.indexOf(b)).slice(0, max),
  );
  return all.filter((p) => chosen.has(p));
}

/** 0: right after a change (done, not yet reported); 1: inside a long step; 2: right before a change; 3: the rest. */
function riskRank(p: string): number {
  const mutating = MUTATING.has(p.split(':')[1]!.split('#')[0]!);
  if (p.startsWith('after:') && mutating) return 0;
  if (p.startsWith('beat:')) return 1;
  if (p.startsWith('before:') && mutating) return 2;
  return 3;
}

/** The points a sample rotates over: a kill right after, inside or right before a change (choosePoints' riskiest ranks), not already fixed. */
export function rotationCandidates(all: string[], fixed: string[]): string[] {
  return all.filter((p) => riskRank(p) < 3 && !fixed.includes(p));
}

/**
 * The rotating point of commit number `n` (`git rev-list --count HEAD`): successive commits take
 * successive candidates, so over as many commits as there are candidates every one is killed at.
 */
export function rotatingPoint(candidates: string[], n: number): string | undefined {
  return candidates.length ? candidates[((n % candidates.length) + candidates.length) % candidates.length] : undefined;
}

export interface PointResult {
  point: string;
  killed: boolean;
  seconds: number;
  /** Differences from the baseline (empty: equal). */
  differences: string[];
  /** What the fixture reports but the comparison leaves out (e.g. how often a service was restarted). */
  observed?: Record<string, unknown>;
}

/** One run killed at `point`, finished by a fresh worker, compared with the baseline. */
export async function runPoint(scenario: Scenario, point: string, expected: Outcome): Promise<PointResult> {
  const t0 = Date.now();
  const fx = await scenario.setup();
  const target = uniqueName('chaos').replace(/_/g, '-');
  const file = writeTargets({ [target]: fx.target });
  // The fresh worker is the same host's worker restarted: it keeps the data dir (its step ledgers).
  const dataDir = tmpDir('chaos-data-');
  const procs = workerProcesses(file, dataDir);
  const taskQueue = uniqueName('chaos');
  let fresh: TestRig | undefined;
  const connection = await Connection.connect(serverOptions());
  try {
    const doomed = await procs.start(taskQueue, point);
    let killed = false;
    // The moment the doomed worker dies, a fresh one (in this process) takes its task queue over.
    const replaced = doomed.proc.then(async (r) => {
      killed = r.signal === 'SIGKILL';
      fresh = await startRig(file, { taskQueue, dataDir });
    });
    const client = clientFor(connection, taskQueue, file);
    const sinceS = Date.now() / 1000;
    const { id } = await client.start(scenario.runbook, { target, initiator: 'alice', input: { retry, ...fx.input } });
    const recoveries: string[] = [];
    const run = await drive(client, id, fx, recoveries);
    if (killed) await replaced;
    const got = await outcomeOf(client, id, run, fx, scenario, sinceS);
    const differences: string[] = [];
    // Not reached (a long step that ended before its first heartbeat, a poll the run did not need
    // this time): the run still must equal the baseline, but the point counts as skipped, not passed.
    if (recoveries.length) differences.push(`a person had to answer recovery gate(s) ${recoveries.join(', ')}`);
    for (const k of ['status', 'outcome', 'healthy'] as const) {
      if (got[k] !== expected[k])
        differences.push(
          `${k} ${JSON.stringify(got[k])}, expected ${JSON.stringify(expected[k])}${got.error ? ` (error: ${got.error.slice(0, 300)})` : ''}`,
        );
    }
    differences.push(...stateDiff(expected.state, got.state));
    if (JSON.stringify(got.records) !== JSON.stringify(expected.records))
      differences.push(`records ${JSON.stringify(got.records)}, expected ${JSON.stringify(expected.records)}`);
    return {
      point,
      killed,
      seconds: Math.round((Date.now() - t0) / 1000),
      differences,
      observed: await fx.observe?.(sinceS),
    };
  } finally {
    await procs.killAll();
    await fresh?.stop();
    await connection.close();
    await fx.cleanup();
  }
}
