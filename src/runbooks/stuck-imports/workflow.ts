import { ApplicationFailure, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type {
  ImportsDbEvidence,
  ImportsRedisEvidence,
  ImportsWorkerEvidence,
  QueueCheck,
  ReenqueueResult,
  ServiceEvidence,
} from '../../activities/index.js';
import { activitiesFor, hostActivitiesFor } from '../../engine/activity-options.js';
import { parseDuration } from '../../util/duration.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { StuckImportsInput } from './definition.js';
import {
  bindingMissingSummary,
  brokerRestarted,
  diagnosisLines,
  dryRunSummary,
  evidenceLines,
  failedLines,
  nothingToDoSummary,
  noServiceSummary,
  remediateGate,
  remediedSummary,
  remedyPlan,
  restartWorkerGate,
  stillDisabledSummary,
} from './texts.js';

/**
 * Seed 003 "Colas Celery/imports atascadas". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export type Cause =
  'disabled-flag' | 'dead-worker' | 'lost-messages' | 'broker-restarted' | 'stale-lock' | 'blocked-rows';

export interface Diagnosis {
  causes: Array<{ cause: Cause; detail: string }>;
  /** Why re-enqueueing would be unsafe, if it would be (a broker that is not the app's). */
  refuseReenqueue?: string;
}

export interface StuckImportsFindings {
  outcome: 'healthy' | 'remedied' | 'still-stuck' | 'dry-run';
  db: ImportsDbEvidence;
  redis: ImportsRedisEvidence;
  worker: ImportsWorkerEvidence;
  diagnosis: Diagnosis;
  clearedLocks?: { deleted: string[]; kept: string[] };
  endedSessions?: { ended: number[]; gone: number[] };
  restart?: ServiceEvidence;
  /** After a broker-restarted restart: whether the worker declared its queue again. */
  bindingAfterRestart?: QueueCheck;
  /** With a disabled flag: the worker's start-up line after the restart. */
  workerAfter?: ImportsWorkerEvidence;
  reenqueue?: ReenqueueResult;
  after?: ImportsDbEvidence;
}

/**
 * Which of the known causes hold. Pure: the same evidence gives the same diagnosis. `brokerRestarted`
 * off: as before that cause existed (a run begun then, whose evidence came from a newer worker).
 */
export function diagnose(
  db: ImportsDbEvidence,
  redis: ImportsRedisEvidence,
  worker: ImportsWorkerEvidence,
  opts: { brokerRestarted?: boolean } = {},
): Diagnosis {
  const causes: Diagnosis['causes'] = [];
  const f = worker.flag;
  if (f.value !== null && f.value !== '1')
    causes.push({
      cause: 'disabled-flag',
      detail: `The worker's last start-up line says ${f.variable}=${f.value || '(empty)'}: it does not consume the queue (“${f.line}”).`,
    });
  const down =
    worker.service?.running === false || (worker.service?.running !== true && worker.ping.replied.length === 0);
  if (down)
    causes.push({
      cause: 'dead-worker',
      detail: `The imports worker is not running (${worker.service ? worker.service.detail : 'no service declared'}; Celery ping: ${worker.ping.replied.length ? worker.ping.replied.join(', ') : `no reply${worker.ping.error ? `, ${worker.ping.error.split('\n')[0]}` : ''}`}).`,
    });
  const messages = redis.queueDepth + redis.inFlight;
  if (db.stuck.count > messages)
    causes.push({
      cause: 'lost-messages',
      detail: `${db.stuck.count} item(s) waiting (${db.stuck.olderThan}) but only ${redis.queueDepth} message(s) in queue ${redis.queue} and ${redis.inFlight} in flight: ${db.stuck.count - messages} or more have no message.`,
    });
  if (redis.staleLocks.length)
    causes.push({
      cause: 'stale-lock',
      detail: `${redis.staleLocks.length} lock key(s) with no TTL, which nothing will release: ${redis.staleLocks.slice(0, 10).join(', ')}.`,
    });
  if (db.rowLocks.length)
    causes.push({
      cause: 'blocked-rows',
      detail:
        db.rowLocks
          .map(
            (l) =>
              `pid ${l.pid} (${l.user ?? '?'}) idle in a transaction for ${l.idleSeconds}s holding locks on ${l.tables.join(', ')}${l.blocking ? `, blocking ${l.blocking} session(s)` : ''}`,
          )
          .join('; ') + '.',
    });
  if (
    opts.brokerRestarted !== false &&
    !redis.queueKnown &&
    causes.some((c) => c.cause === 'lost-messages') &&
    worker.broker?.sameAsTarget
  ) {
    // The binding went with the messages (a restart without persistence, a flush), but the app's worker names this broker.
    causes.push({ cause: 'broker-restarted', detail: brokerRestarted({ db, redis, worker }) });
    return { causes, refuseReenqueue: undefined };
  }
  const refuseReenqueue = !redis.queueKnown
    ? `Queue ${redis.queue} was never declared in ${redis.broker} (no _kombu.binding.${redis.queue}): this is probably not the app's broker (wrong DB number or prefix). Messages published there would never be read; fix redis.url in the targets file.`
    : undefined;
  return { causes, refuseReenqueue };
}

export async function stuckImports(input: StuckImportsInput): Promise<RunbookResult<StuckImportsFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    if (!target.imports || !target.hasRedis || !target.postgres) {
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" needs postgres, redis and imports sections for stuck-imports.`,
        'TargetConfigError',
      );
    }
    const host = hostActivitiesFor(input, target);
    const stuckAfter = input.stuckAfter ?? target.imports.stuckAfter;
    const db = await rb.step('db-evidence', () => act.importsDbEvidence(input.target, { stuckAfter }), {
      inputs: { stuckAfter },
    });
    const redis = await rb.step('redis-evidence', () => act.importsRedisEvidence(input.target));
    const worker = await rb.step('worker-evidence', () => host.importsWorkerEvidence(input.target), {
      inputs: { service: target.imports.service ?? null },
    });
    // Runs begun before the broker-restarted cause keep the plan they started with (restart first changes the steps).
    const brokerRestarted = patched('stuck-imports-broker-restarted');
    const diagnosis = await rb.step('diagnose', async () => diagnose(db, redis, worker, { brokerRestarted }));
    const has = (c: Cause) => diagnosis.causes.some((d) => d.cause === c);
    const findings = (
      outcome: StuckImportsFindings['outcome'],
      more: Partial<StuckImportsFindings> = {},
    ): StuckImportsFindings => ({ outcome, db, redis, worker, diagnosis, ...more });
    const end = (healthy: boolean, summary: string[], f: StuckImportsFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    const evidence = { db, redis, worker };
    const failed = db.failed;
    // retryFailed (seed step 4, "reintentar tarea"): failed items never retried before, only into the app's broker.
    const toRetry =
      input.retryFailed && failed && !diagnosis.refuseReenqueue ? failed.count - failed.alreadyRetried : 0;
    const lines = {
      diagnosis: diagnosisLines(diagnosis),
      evidence: evidenceLines(evidence, stuckAfter),
      failed: failedLines(failed, input.retryFailed ?? false),
    };
    if (diagnosis.causes.length === 0 && toRetry === 0)
      return end(true, ['Nothing is stuck.', ...lines.evidence, ...lines.failed], findings('healthy'));
    const reenqueue = has('lost-messages') && !diagnosis.refuseReenqueue;
    // The broker lost the queue's binding: the worker must declare it again before anything is published.
    const restartFirst = has('broker-restarted');
    const restart = has('dead-worker') || has('disabled-flag') || restartFirst;
    const plan = remedyPlan({
      ...evidence,
      restartFirst,
      restartAfter: restart && !restartFirst,
      staleLocks: has('stale-lock'),
      blockedRows: has('blocked-rows'),
      reenqueue,
      toRetry,
      service: target.imports.service,
    });
    const refused = diagnosis.refuseReenqueue;
    if (input.dryRun) return end(false, dryRunSummary(lines, plan, refused), findings('dry-run'));

    const remedies = has('stale-lock') || has('blocked-rows') || reenqueue || toRetry > 0;
    // Nothing this runbook may do (e.g. re-enqueue refused): say so now rather than wait for items that cannot move.
    if (!remedies && !restart) return end(false, nothingToDoSummary(lines, refused), findings('still-stuck'));
    await rb.lockTarget();
    const more: Partial<StuckImportsFindings> = {};

    /** The restart behind its gate; a result when the run must end there. */
    const restartWorker = async (): Promise<RunbookResult<StuckImportsFindings> | undefined> => {
      const svc = target.imports?.service;
      if (!svc) {
        const noService = { target: input.target, restartFirst, queue: redis.queue };
        return end(false, noServiceSummary(lines.diagnosis, noService), findings('still-stuck', more));
      }
      const restarting = { target: input.target, service: svc, diagnosis, plan, restartFirst };
      await rb.gate('restart-worker', restartWorkerGate(evidence, restarting));
      more.restart = await rb.step('restart', () => host.serviceAction(input.target, svc, 'restart'), {
        inputs: { service: svc },
      });
      if (!has('disabled-flag')) return undefined;
      // Waiting for items a disabled worker will never take would only waste the deadline.
      const again = await rb.step('flag-after-restart', () => host.importsWorkerEvidence(input.target));
      more.workerAfter = again;
      if (again.flag.value === '1') return undefined;
      return end(false, stillDisabledSummary(lines.diagnosis, svc, again), findings('still-stuck', more));
    };

    if (restartFirst) {
      const stopped = await restartWorker();
      if (stopped) return stopped;
      const check = await rb.step('check-binding', () => act.importsQueueDeclared(input.target, { timeout: '30s' }), {
        inputs: { queue: redis.queue, timeout: '30s' },
      });
      more.bindingAfterRestart = check;
      if (!check.known) {
        const summary = bindingMissingSummary(lines.diagnosis, more.restart!.service, check);
        return end(false, summary, findings('still-stuck', more));
      }
    }
    if (remedies) {
      const remedying = { target: input.target, diagnosis, plan, bindingAfterRestart: more.bindingAfterRestart };
      await rb.gate('remediate', remediateGate(evidence, { ...remedying, failedToRetry: toRetry }));
      if (has('stale-lock'))
        more.clearedLocks = await rb.step(
          'clear-locks',
          () => act.importsClearStaleLocks(input.target, redis.staleLocks),
          { inputs: { keys: redis.staleLocks } },
        );
      const pids = db.rowLocks.map((l) => l.pid);
      if (has('blocked-rows'))
        more.endedSessions = await rb.step('end-sessions', () => act.importsEndBlockingSessions(input.target, pids), {
          inputs: { pids },
        });
      if (reenqueue || toRetry > 0) {
        const generation = workflowInfo().runId.replace(/-/g, '').slice(0, 12);
        // Without lost messages, only the failed items: the stuck ones still have their messages.
        const req = {
          generation,
          updatedBefore: db.stuck.cutoff,
          batchSize: input.batchSize,
          ...(reenqueue ? {} : { stuck: false }),
          ...(toRetry > 0 ? { retryFailed: true } : {}),
        };
        const long = activitiesFor(input, { taskQueue: target.taskQueue, long: true });
        more.reenqueue = await rb.step('reenqueue', () => long.importsReenqueue(input.target, req), {
          inputs: { ...req, batchSize: input.batchSize ?? 1000 },
        });
      }
    }
    if (restart && !restartFirst) {
      const stopped = await restartWorker();
      if (stopped) return stopped;
    }

    // Verify: the stuck items move to done within the deadline.
    const deadline = Date.now() + parseDuration(input.verifyDeadline ?? '10m');
    // The items stuck at diagnosis are the ones not updated since its cutoff: new arrivals do not count.
    // Retried failed items were updated by the retry: they are followed through the ledger (their generation).
    const since = more.reenqueue?.retried
      ? { updatedBefore: db.stuck.cutoff, generation: more.reenqueue.generation }
      : { updatedBefore: db.stuck.cutoff };
    let after = await rb.step('verify', () => act.importsDbEvidence(input.target, since), {
      inputs: { deadline: input.verifyDeadline ?? '10m', ...since },
    });
    const remaining = (e: ImportsDbEvidence) => e.stuck.count + (e.retried?.waiting ?? 0);
    while (remaining(after) > 0 && Date.now() < deadline) {
      await sleep('2s');
      after = await act.importsDbEvidence(input.target, since);
    }
    more.after = after;
    const failedAgain = after.retried?.failedAgain ?? [];
    const healthy = remaining(after) === 0 && failedAgain.length === 0;
    const verifyDeadline = input.verifyDeadline ?? '10m';
    const verified = {
      queue: redis.queue,
      refuseReenqueue: refused,
      after,
      remaining: remaining(after),
      verifyDeadline,
    };
    const summary = remediedSummary(lines, { restartFirst, ...more }, verified);
    return end(healthy, summary, findings(healthy ? 'remedied' : 'still-stuck', more));
  });
}
