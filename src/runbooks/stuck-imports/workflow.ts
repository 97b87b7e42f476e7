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

/**
 * Seed 003 "Colas Celery/imports atascadas": evidence (the worker's IMPORTS_ENABLED from its
 * start-up lines, its liveness, Redis PING, queue depth and imports:* keys, counts by status,
 * stuck items, sessions holding row locks) · diagnosis · remediation ⛔ of only what the diagnosis
 * calls for (stale locks, blocking sessions, re-enqueue each stuck item once; with retryFailed, "reintentar
 * tarea": each failed item once) · restart the worker ⛔ · verify the items move. When the broker lost
 * its data (the queue's binding gone with the messages) the worker is restarted first, so that it
 * declares its queue again, and the re-enqueue waits until the binding is back.
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
    causes.push({ cause: 'broker-restarted', detail: brokerRestarted(db, redis, worker) });
    return { causes, refuseReenqueue: undefined };
  }
  const refuseReenqueue = !redis.queueKnown
    ? `Queue ${redis.queue} was never declared in ${redis.broker} (no _kombu.binding.${redis.queue}): this is probably not the app's broker (wrong DB number or prefix). Messages published there would never be read; fix redis.url in the targets file.`
    : undefined;
  return { causes, refuseReenqueue };
}

/** Why a broker with no binding is still the app's, and what that means: the plain reasoning shown at the gates. */
function brokerRestarted(db: ImportsDbEvidence, redis: ImportsRedisEvidence, worker: ImportsWorkerEvidence): string {
  const b = worker.broker!;
  const srv = redis.server;
  const age = db.stuck.oldestAgeSeconds;
  const restarted =
    srv?.uptimeSeconds != null && age != null && srv.uptimeSeconds < age
      ? `Redis has been up ${srv.uptimeSeconds}s, less than the ${age}s since the oldest stuck item was last updated: it restarted after the items were queued`
      : `Redis has been up ${srv?.uptimeSeconds ?? '?'}s: the data was flushed, or lost otherwise`;
  const volatile =
    srv?.appendOnly === false && srv.savePoints === ''
      ? ' and keeps nothing across a restart (appendonly no, no save points)'
      : '';
  return `Queue ${redis.queue} is not declared in ${redis.broker} (no _kombu.binding.${redis.queue}), yet this is the app's broker: the worker's last start-up banner names it (${b.line}${b.queues.length ? `, queues ${b.queues.join(', ')}` : ''}) and ${db.stuck.count} item(s) wait for queue ${redis.queue}. ${restarted}${volatile}; this DB holds ${srv?.keysInDb ?? '?'} key(s). The messages and the binding were lost together. A Celery worker declares its queues when it starts: restart it first, check that the binding is back, then re-enqueue.`;
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
      runbook: 'stuck-imports',
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    const evidenceLines = [
      `Items by status: ${fmt(db.items)}; batches: ${fmt(db.batches)}; ${db.stuck.count} item(s) waiting longer than ${stuckAfter}${db.stuck.oldest ? ` (oldest update ${db.stuck.oldest})` : ''}.`,
      `Redis ${redis.broker}: PING ${redis.pingMs} ms, queue ${redis.queue} holds ${redis.queueDepth} message(s) (${redis.inFlight} in flight), ${redis.keys.length}${redis.keysTruncated ? '+' : ''} imports key(s).`,
      `Worker: ${worker.service ? worker.service.detail : 'no service declared'}; Celery ping ${worker.ping.replied.length ? `answered by ${worker.ping.replied.join(', ')}` : 'not answered'}; ${worker.flag.variable}=${worker.flag.value ?? '(no start-up line found)'}${worker.logSource ? ` (from ${worker.logSource})` : ''}.`,
    ];

    const failed = db.failed;
    // retryFailed (seed step 4, "reintentar tarea"): failed items never retried before, only into the app's broker.
    const toRetry =
      input.retryFailed && failed && !diagnosis.refuseReenqueue ? failed.count - failed.alreadyRetried : 0;
    const failedLines = [
      ...(failed?.count && !input.retryFailed
        ? [
            `${failed.count} item(s) failed (${failed.statuses.join(', ')}): not retried; run with retryFailed: true to retry each once.`,
          ]
        : []),
      ...(input.retryFailed && failed?.alreadyRetried
        ? [
            `${failed.alreadyRetried} failed item(s) were already retried once by an earlier run and are not retried again (ids ${failed.alreadyRetriedSample.join(', ')}): look at them by hand.`,
          ]
        : []),
    ];
    if (diagnosis.causes.length === 0 && toRetry === 0) {
      return end(true, ['Nothing is stuck.', ...evidenceLines, ...failedLines], findings('healthy'));
    }
    const diagnosisLines = diagnosis.causes.map((c) => `Cause: ${c.cause}: ${c.detail}`);
    const reenqueue = has('lost-messages') && !diagnosis.refuseReenqueue;
    // The broker lost the queue's binding: the worker must declare it again before anything is published.
    const restartFirst = has('broker-restarted');
    const restart = has('dead-worker') || has('disabled-flag') || restartFirst;
    const svcName = target.imports.service ? ` (${target.imports.service})` : '';
    const plan = [
      restartFirst
        ? `first restart the imports worker${svcName} behind its own gate, so that it declares queue ${redis.queue} again, and check that _kombu.binding.${redis.queue} is back before any of the rest`
        : undefined,
      has('stale-lock')
        ? `delete ${redis.staleLocks.length} lock key(s) with no TTL (each checked again: a lock with a TTL is kept)`
        : undefined,
      has('blocked-rows')
        ? `end session(s) ${db.rowLocks.map((l) => l.pid).join(', ')} (pg_terminate_backend, only if still idle in a transaction on the import tables; their open transactions roll back)`
        : undefined,
      reenqueue
        ? `re-enqueue the ${db.stuck.count} stuck item(s) through the app's Celery app, each once: a ledger row per item and run (task id rb-<run>-<item>) is committed before its publish; done items are never selected; a duplicate delivery is a no-op only if the app's task changes status conditionally (… WHERE status in the waiting statuses) — check that it does`
        : undefined,
      toRetry > 0
        ? `retry the ${toRetry} failed item(s) (${failed!.statuses.join(', ')}; ids ${failed!.sample.join(', ')}${toRetry > failed!.sample.length ? ', …' : ''}), each once ever: set back to waiting and published through the same ledger, which records that it was retried so no later run retries it again`
        : undefined,
      restart && !restartFirst ? `then restart the imports worker${svcName} behind its own gate` : undefined,
    ].filter((p): p is string => p !== undefined);
    if (input.dryRun) {
      return end(
        false,
        [
          'Dry run: nothing was changed.',
          ...diagnosisLines,
          ...evidenceLines,
          ...failedLines,
          `Would: ${plan.join('; ') || 'nothing'}.`,
          ...(diagnosis.refuseReenqueue ? [diagnosis.refuseReenqueue] : []),
        ],
        findings('dry-run'),
      );
    }

    const remedies = has('stale-lock') || has('blocked-rows') || reenqueue || toRetry > 0;
    if (!remedies && !restart) {
      // Nothing this runbook may do (e.g. re-enqueue refused): say so now rather than wait for items that cannot move.
      return end(
        false,
        [
          ...diagnosisLines,
          ...evidenceLines,
          ...(diagnosis.refuseReenqueue ? [`Not re-enqueued: ${diagnosis.refuseReenqueue}`] : []),
          ...failedLines,
          'Nothing was changed.',
        ],
        findings('still-stuck'),
      );
    }
    await rb.lockTarget();
    const more: Partial<StuckImportsFindings> = {};

    /** The restart behind its gate; a result when the run must end there. */
    const restartWorker = async (): Promise<RunbookResult<StuckImportsFindings> | undefined> => {
      if (!target.imports?.service) {
        const byHand = restartFirst
          ? ` Restart it by hand (it declares queue ${redis.queue} as it starts), then run stuck-imports again: nothing is re-enqueued before the binding is back.`
          : '';
        return end(
          false,
          [
            ...diagnosisLines,
            `The worker needs a restart, but target ${input.target} names no imports.service: restart it by hand.${byHand}`,
          ],
          findings('still-stuck', more),
        );
      }
      const svc = target.imports.service;
      const why = restartFirst
        ? `The broker lost its data: ${diagnosis.causes.find((c) => c.cause === 'broker-restarted')!.detail} After the restart the runbook checks the binding; only if it is back does it ask to re-enqueue (${plan.slice(1).join('; ')}).`
        : diagnosisLines.filter((l) => l.includes('dead-worker') || l.includes('disabled-flag')).join(' ');
      await rb.gate('restart-worker', {
        prompt: `Restart the imports worker (${svc}) on ${input.target}? ${has('disabled-flag') ? `Its last start-up said ${worker.flag.variable}=${worker.flag.value}: set ${worker.flag.variable}=1 in its environment BEFORE approving, or it will start disabled again. ` : ''}${why}`,
        evidence: {
          service: svc,
          status: worker.service,
          flag: worker.flag,
          startupLines: worker.startupLines,
          ...(restartFirst
            ? {
                broker: {
                  worker: worker.broker,
                  redis: redis.server,
                  queue: redis.queue,
                  bindingPresent: false,
                  stuck: db.stuck.count,
                },
              }
            : {}),
        },
      });
      more.restart = await rb.step('restart', () => host.serviceAction(input.target, svc, 'restart'), {
        inputs: { service: svc },
      });
      if (has('disabled-flag')) {
        // Waiting for items a disabled worker will never take would only waste the deadline.
        const again = await rb.step('flag-after-restart', () => host.importsWorkerEvidence(input.target));
        more.workerAfter = again;
        if (again.flag.value !== '1') {
          return end(
            false,
            [
              ...diagnosisLines,
              `Restarted ${svc}, but its new start-up line still says ${again.flag.variable}=${again.flag.value ?? '(none found)'} (“${again.flag.line ?? ''}”): imports stay disabled. Set ${again.flag.variable}=1 in the service's environment and run stuck-imports again.`,
            ],
            findings('still-stuck', more),
          );
        }
      }
      return undefined;
    };

    if (restartFirst) {
      const stopped = await restartWorker();
      if (stopped) return stopped;
      const check = await rb.step('check-binding', () => act.importsQueueDeclared(input.target, { timeout: '30s' }), {
        inputs: { queue: redis.queue, timeout: '30s' },
      });
      more.bindingAfterRestart = check;
      if (!check.known) {
        return end(
          false,
          [
            ...diagnosisLines,
            `Restarted ${more.restart!.service}, but queue ${check.queue} is still not declared in ${check.broker} after ${Math.round(check.waitedMs / 1000)}s: the restarted worker does not consume this broker. Nothing was re-enqueued; compare the worker's broker URL with redis.url in the targets file.`,
          ],
          findings('still-stuck', more),
        );
      }
    }
    if (remedies) {
      const bindingBack = more.bindingAfterRestart
        ? ` The restarted worker declared queue ${redis.queue} again in ${redis.broker} (_kombu.binding.${redis.queue} is back after ${Math.round(more.bindingAfterRestart.waitedMs / 1000)}s): this is the broker it consumes.`
        : '';
      await rb.gate('remediate', {
        prompt: `Imports are stuck on ${input.target}. ${diagnosisLines.join(' ')}${bindingBack} Plan: ${plan.filter((p) => !p.startsWith('then restart') && !p.startsWith('first restart')).join('; ')}.${diagnosis.refuseReenqueue ? ` Not re-enqueueing: ${diagnosis.refuseReenqueue}` : ''}`,
        evidence: {
          diagnosis,
          stuck: db.stuck,
          queueDepth: redis.queueDepth,
          staleLocks: redis.staleLocks,
          rowLocks: db.rowLocks,
          ...(more.bindingAfterRestart ? { bindingAfterRestart: more.bindingAfterRestart } : {}),
          ...(toRetry > 0 ? { failed: { ...failed, toRetry } } : {}),
        },
      });
      if (has('stale-lock'))
        more.clearedLocks = await rb.step(
          'clear-locks',
          () => act.importsClearStaleLocks(input.target, redis.staleLocks),
          { inputs: { keys: redis.staleLocks } },
        );
      if (has('blocked-rows'))
        more.endedSessions = await rb.step(
          'end-sessions',
          () =>
            act.importsEndBlockingSessions(
              input.target,
              db.rowLocks.map((l) => l.pid),
            ),
          { inputs: { pids: db.rowLocks.map((l) => l.pid) } },
        );
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
        more.reenqueue = await rb.step(
          'reenqueue',
          () => activitiesFor(input, { taskQueue: target.taskQueue, long: true }).importsReenqueue(input.target, req),
          { inputs: { ...req, batchSize: input.batchSize ?? 1000 } },
        );
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
    const summary = [
      ...diagnosisLines,
      ...(more.restart && restartFirst
        ? [
            `Restarted ${more.restart.service} first: it declared queue ${redis.queue} again (_kombu.binding.${redis.queue} back after ${Math.round((more.bindingAfterRestart?.waitedMs ?? 0) / 1000)}s).`,
          ]
        : []),
      ...(more.clearedLocks
        ? [
            `Deleted lock key(s): ${more.clearedLocks.deleted.join(', ') || 'none'}${more.clearedLocks.kept.length ? `; kept (they had a TTL by then): ${more.clearedLocks.kept.join(', ')}` : ''}.`,
          ]
        : []),
      ...(more.endedSessions
        ? [
            `Ended session(s): ${more.endedSessions.ended.join(', ') || 'none'}${more.endedSessions.gone.length ? `; already gone: ${more.endedSessions.gone.join(', ')}` : ''}.`,
          ]
        : []),
      ...(more.reenqueue
        ? [
            `Re-enqueued ${more.reenqueue.published} item(s) in ${more.reenqueue.batches} batch(es), generation ${more.reenqueue.generation} (ledger ${more.reenqueue.ledger}).`,
          ]
        : []),
      ...(more.reenqueue?.retried
        ? [
            `Retried ${more.reenqueue.retried} failed item(s), each once (ids ${more.reenqueue.retriedSample?.join(', ') ?? ''}): set back to waiting and published; the ledger keeps any later run from retrying them again.`,
          ]
        : []),
      ...failedLines,
      ...(diagnosis.refuseReenqueue ? [`Not re-enqueued: ${diagnosis.refuseReenqueue}`] : []),
      ...(more.restart && !restartFirst
        ? [
            `Restarted ${more.restart.service}: ${more.restart.checks.map((c) => `${c.check} ${c.ok ? 'ok' : 'FAILED'} (${c.detail})`).join('; ')}.`,
          ]
        : []),
      ...(failedAgain.length
        ? [
            `${failedAgain.length} retried item(s) failed again (ids ${failedAgain.join(', ')}): they are not retried again; look at them by hand.`,
          ]
        : []),
      remaining(after) === 0
        ? `Verified: none of the stuck items is waiting any more (items: ${fmt(after.items)}).`
        : `STILL STUCK after ${input.verifyDeadline ?? '10m'}: ${remaining(after)} of the stuck item(s) still waiting (items: ${fmt(after.items)}); sample ids ${after.stuck.sample.join(', ')}.`,
    ];
    return end(healthy, summary, findings(healthy ? 'remedied' : 'still-stuck', more));
  });
}

function fmt(counts: Record<string, number>): string {
  return (
    Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  );
}
