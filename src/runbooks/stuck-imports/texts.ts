import type {
  ImportsDbEvidence,
  ImportsRedisEvidence,
  ImportsWorkerEvidence,
  QueueCheck,
  ReenqueueResult,
  ServiceEvidence,
} from '../../activities/index.js';
import type { Diagnosis } from './workflow.js';

/** stuck-imports' texts: the evidence in words, the plan, what its gates ask and show, its summary. */

export interface Evidence {
  db: ImportsDbEvidence;
  redis: ImportsRedisEvidence;
  worker: ImportsWorkerEvidence;
}

/** Counts by status, e.g. "pending 3, done 12", or "none". */
export function fmt(counts: Record<string, number>): string {
  return (
    Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  );
}

const seconds = (ms: number) => Math.round(ms / 1000);

/** Why a broker with no binding is still the app's, and what that means: the plain reasoning shown at the gates. */
export function brokerRestarted({ db, redis, worker }: Evidence): string {
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

/** The evidence in three lines: the items, Redis, the worker. */
export function evidenceLines({ db, redis, worker }: Evidence, stuckAfter: string): string[] {
  const oldest = db.stuck.oldest ? ` (oldest update ${db.stuck.oldest})` : '';
  const ping = worker.ping.replied.length ? `answered by ${worker.ping.replied.join(', ')}` : 'not answered';
  const from = worker.logSource ? ` (from ${worker.logSource})` : '';
  return [
    `Items by status: ${fmt(db.items)}; batches: ${fmt(db.batches)}; ${db.stuck.count} item(s) waiting longer than ${stuckAfter}${oldest}.`,
    `Redis ${redis.broker}: PING ${redis.pingMs} ms, queue ${redis.queue} holds ${redis.queueDepth} message(s) (${redis.inFlight} in flight), ${redis.keys.length}${redis.keysTruncated ? '+' : ''} imports key(s).`,
    `Worker: ${worker.service ? worker.service.detail : 'no service declared'}; Celery ping ${ping}; ${worker.flag.variable}=${worker.flag.value ?? '(no start-up line found)'}${from}.`,
  ];
}

/** The failed items: not retried without retryFailed, or already retried once by an earlier run. */
export function failedLines(failed: ImportsDbEvidence['failed'], retryFailed: boolean): string[] {
  const lines: string[] = [];
  if (failed?.count && !retryFailed)
    lines.push(
      `${failed.count} item(s) failed (${failed.statuses.join(', ')}): not retried; run with retryFailed: true to retry each once.`,
    );
  if (retryFailed && failed?.alreadyRetried)
    lines.push(
      `${failed.alreadyRetried} failed item(s) were already retried once by an earlier run and are not retried again (ids ${failed.alreadyRetriedSample.join(', ')}): look at them by hand.`,
    );
  return lines;
}

export function diagnosisLines(diagnosis: Diagnosis): string[] {
  return diagnosis.causes.map((c) => `Cause: ${c.cause}: ${c.detail}`);
}

/** What the run will do, in the order it does it. */
export interface PlanFacts extends Evidence {
  restartFirst: boolean;
  restartAfter: boolean;
  staleLocks: boolean;
  blockedRows: boolean;
  reenqueue: boolean;
  toRetry: number;
  /** The imports worker's service name, when the target declares one. */
  service?: string;
}

/** The plan, one clause per remedy; a restart first (the broker lost its data) leads, a plain restart ends it. */
export function remedyPlan(f: PlanFacts): string[] {
  const { db, redis } = f;
  const svcName = f.service ? ` (${f.service})` : '';
  const failed = db.failed;
  const plan: string[] = [];
  if (f.restartFirst)
    plan.push(
      `first restart the imports worker${svcName} behind its own gate, so that it declares queue ${redis.queue} again, and check that _kombu.binding.${redis.queue} is back before any of the rest`,
    );
  if (f.staleLocks)
    plan.push(
      `delete ${redis.staleLocks.length} lock key(s) with no TTL (each checked again: a lock with a TTL is kept)`,
    );
  if (f.blockedRows)
    plan.push(
      `end session(s) ${db.rowLocks.map((l) => l.pid).join(', ')} (pg_terminate_backend, only if still idle in a transaction on the import tables; their open transactions roll back)`,
    );
  if (f.reenqueue)
    plan.push(
      `re-enqueue the ${db.stuck.count} stuck item(s) through the app's Celery app, each once: a ledger row per item and run (task id rb-<run>-<item>) is committed before its publish; done items are never selected; a duplicate delivery is a no-op only if the app's task changes status conditionally (… WHERE status in the waiting statuses) — check that it does`,
    );
  if (f.toRetry > 0)
    plan.push(
      `retry the ${f.toRetry} failed item(s) (${failed!.statuses.join(', ')}; ids ${failed!.sample.join(', ')}${f.toRetry > failed!.sample.length ? ', …' : ''}), each once ever: set back to waiting and published through the same ledger, which records that it was retried so no later run retries it again`,
    );
  if (f.restartAfter) plan.push(`then restart the imports worker${svcName} behind its own gate`);
  return plan;
}

export interface Lines {
  diagnosis: string[];
  evidence: string[];
  failed: string[];
}

/** A dry run's summary: the diagnosis, the evidence, and what a run would do. */
export function dryRunSummary(l: Lines, plan: string[], refuseReenqueue?: string): string[] {
  return [
    'Dry run: nothing was changed.',
    ...l.diagnosis,
    ...l.evidence,
    ...l.failed,
    `Would: ${plan.join('; ') || 'nothing'}.`,
    ...(refuseReenqueue ? [refuseReenqueue] : []),
  ];
}

/** The summary when nothing this runbook may do would help (e.g. the re-enqueue is refused). */
export function nothingToDoSummary(l: Lines, refuseReenqueue?: string): string[] {
  return [
    ...l.diagnosis,
    ...l.evidence,
    ...(refuseReenqueue ? [`Not re-enqueued: ${refuseReenqueue}`] : []),
    ...l.failed,
    'Nothing was changed.',
  ];
}

/** The summary when the worker needs a restart but the target names no service to restart. */
export function noServiceSummary(diagnosis: string[], f: { target: string; restartFirst: boolean; queue: string }) {
  const byHand = f.restartFirst
    ? ` Restart it by hand (it declares queue ${f.queue} as it starts), then run stuck-imports again: nothing is re-enqueued before the binding is back.`
    : '';
  return [
    ...diagnosis,
    `The worker needs a restart, but target ${f.target} names no imports.service: restart it by hand.${byHand}`,
  ];
}

/** The restart-worker gate: why the worker is restarted, and (with a disabled flag) what to set first. */
export function restartWorkerGate(
  e: Evidence,
  f: { target: string; service: string; diagnosis: Diagnosis; plan: string[]; restartFirst: boolean },
) {
  const { worker, redis, db } = e;
  const lines = diagnosisLines(f.diagnosis);
  const disabled = f.diagnosis.causes.some((c) => c.cause === 'disabled-flag');
  const why = f.restartFirst
    ? `The broker lost its data: ${f.diagnosis.causes.find((c) => c.cause === 'broker-restarted')!.detail} After the restart the runbook checks the binding; only if it is back does it ask to re-enqueue (${f.plan.slice(1).join('; ')}).`
    : lines.filter((l) => l.includes('dead-worker') || l.includes('disabled-flag')).join(' ');
  const setFlag = disabled
    ? `Its last start-up said ${worker.flag.variable}=${worker.flag.value}: set ${worker.flag.variable}=1 in its environment BEFORE approving, or it will start disabled again. `
    : '';
  const broker = {
    worker: worker.broker,
    redis: redis.server,
    queue: redis.queue,
    bindingPresent: false,
    stuck: db.stuck.count,
  };
  return {
    prompt: `Restart the imports worker (${f.service}) on ${f.target}? ${setFlag}${why}`,
    evidence: {
      service: f.service,
      status: worker.service,
      flag: worker.flag,
      startupLines: worker.startupLines,
      ...(f.restartFirst ? { broker } : {}),
    },
  };
}

/** The summary when the restarted worker still starts with imports disabled. */
export function stillDisabledSummary(diagnosis: string[], service: string, again: ImportsWorkerEvidence): string[] {
  return [
    ...diagnosis,
    `Restarted ${service}, but its new start-up line still says ${again.flag.variable}=${again.flag.value ?? '(none found)'} (“${again.flag.line ?? ''}”): imports stay disabled. Set ${again.flag.variable}=1 in the service's environment and run stuck-imports again.`,
  ];
}

/** The summary when the restarted worker did not declare its queue again: nothing is re-enqueued. */
export function bindingMissingSummary(diagnosis: string[], service: string, check: QueueCheck): string[] {
  return [
    ...diagnosis,
    `Restarted ${service}, but queue ${check.queue} is still not declared in ${check.broker} after ${seconds(check.waitedMs)}s: the restarted worker does not consume this broker. Nothing was re-enqueued; compare the worker's broker URL with redis.url in the targets file.`,
  ];
}

/** The remediate gate: the causes, the binding back (after a restart first), the plan without the restarts. */
export function remediateGate(
  e: Evidence,
  f: { target: string; diagnosis: Diagnosis; plan: string[]; bindingAfterRestart?: QueueCheck; failedToRetry?: number },
) {
  const { db, redis } = e;
  const binding = f.bindingAfterRestart;
  const bindingBack = binding
    ? ` The restarted worker declared queue ${redis.queue} again in ${redis.broker} (_kombu.binding.${redis.queue} is back after ${seconds(binding.waitedMs)}s): this is the broker it consumes.`
    : '';
  const plan = f.plan.filter((p) => !p.startsWith('then restart') && !p.startsWith('first restart'));
  const refused = f.diagnosis.refuseReenqueue ? ` Not re-enqueueing: ${f.diagnosis.refuseReenqueue}` : '';
  const toRetry = f.failedToRetry ?? 0;
  return {
    prompt: `Imports are stuck on ${f.target}. ${diagnosisLines(f.diagnosis).join(' ')}${bindingBack} Plan: ${plan.join('; ')}.${refused}`,
    evidence: {
      diagnosis: f.diagnosis,
      stuck: db.stuck,
      queueDepth: redis.queueDepth,
      staleLocks: redis.staleLocks,
      rowLocks: db.rowLocks,
      ...(binding ? { bindingAfterRestart: binding } : {}),
      ...(toRetry > 0 ? { failed: { ...db.failed, toRetry } } : {}),
    },
  };
}

/** What the run did, for the summary. */
export interface Done {
  restartFirst: boolean;
  restart?: ServiceEvidence;
  bindingAfterRestart?: QueueCheck;
  clearedLocks?: { deleted: string[]; kept: string[] };
  endedSessions?: { ended: number[]; gone: number[] };
  reenqueue?: ReenqueueResult;
}

/** The summary after the remedies and the verify: what was done, and whether the stuck items moved. */
export function remediedSummary(
  l: Lines,
  d: Done,
  f: { queue: string; refuseReenqueue?: string; after: ImportsDbEvidence; remaining: number; verifyDeadline: string },
): string[] {
  const lines = [...l.diagnosis];
  if (d.restart && d.restartFirst)
    lines.push(
      `Restarted ${d.restart.service} first: it declared queue ${f.queue} again (_kombu.binding.${f.queue} back after ${seconds(d.bindingAfterRestart?.waitedMs ?? 0)}s).`,
    );
  if (d.clearedLocks) {
    const kept = d.clearedLocks.kept.length ? `; kept (they had a TTL by then): ${d.clearedLocks.kept.join(', ')}` : '';
    lines.push(`Deleted lock key(s): ${d.clearedLocks.deleted.join(', ') || 'none'}${kept}.`);
  }
  if (d.endedSessions) {
    const gone = d.endedSessions.gone.length ? `; already gone: ${d.endedSessions.gone.join(', ')}` : '';
    lines.push(`Ended session(s): ${d.endedSessions.ended.join(', ') || 'none'}${gone}.`);
  }
  if (d.reenqueue)
    lines.push(
      `Re-enqueued ${d.reenqueue.published} item(s) in ${d.reenqueue.batches} batch(es), generation ${d.reenqueue.generation} (ledger ${d.reenqueue.ledger}).`,
    );
  if (d.reenqueue?.retried)
    lines.push(
      `Retried ${d.reenqueue.retried} failed item(s), each once (ids ${d.reenqueue.retriedSample?.join(', ') ?? ''}): set back to waiting and published; the ledger keeps any later run from retrying them again.`,
    );
  lines.push(...l.failed);
  if (f.refuseReenqueue) lines.push(`Not re-enqueued: ${f.refuseReenqueue}`);
  if (d.restart && !d.restartFirst)
    lines.push(
      `Restarted ${d.restart.service}: ${d.restart.checks.map((c) => `${c.check} ${c.ok ? 'ok' : 'FAILED'} (${c.detail})`).join('; ')}.`,
    );
  const failedAgain = f.after.retried?.failedAgain ?? [];
  if (failedAgain.length)
    lines.push(
      `${failedAgain.length} retried item(s) failed again (ids ${failedAgain.join(', ')}): they are not retried again; look at them by hand.`,
    );
  lines.push(
    f.remaining === 0
      ? `Verified: none of the stuck items is waiting any more (items: ${fmt(f.after.items)}).`
      : `STILL STUCK after ${f.verifyDeadline}: ${f.remaining} of the stuck item(s) still waiting (items: ${fmt(f.after.items)}); sample ids ${f.after.stuck.sample.join(', ')}.`,
  );
  return lines;
}
