import { ApplicationFailure, sleep, workflowInfo } from '@temporalio/workflow';
import type { ImportsDbEvidence, ImportsRedisEvidence, ImportsWorkerEvidence, ReenqueueResult, ServiceEvidence } from '../activities/index.js';
import { activitiesFor, hostActivitiesFor } from './activity-options.js';
import { parseDuration } from '../util/duration.js';
import { runbook } from './runbook.js';
import type { RunbookInput, RunbookResult } from './types.js';

/**
 * Seed 003 "Colas Celery/imports atascadas": evidence (the worker's IMPORTS_ENABLED from its
 * start-up lines, its liveness, Redis PING, queue depth and imports:* keys, counts by status,
 * stuck items, sessions holding row locks) · diagnosis · remediation ⛔ of only what the diagnosis
 * calls for (stale locks, blocking sessions, re-enqueue each stuck item once) · restart the worker ⛔
 * · verify the items move.
 */

export interface StuckImportsInput extends RunbookInput {
  /** Items waiting longer than this are stuck (default: the target's imports.stuckAfter). */
  stuckAfter?: string;
  /** How long verification waits for the stuck items to be processed (default 10m). */
  verifyDeadline?: string;
  /** Items re-enqueued per batch (default 1000). */
  batchSize?: number;
}

export type Cause = 'disabled-flag' | 'dead-worker' | 'lost-messages' | 'stale-lock' | 'blocked-rows';

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
  /** With a disabled flag: the worker's start-up line after the restart. */
  workerAfter?: ImportsWorkerEvidence;
  reenqueue?: ReenqueueResult;
  after?: ImportsDbEvidence;
}

/** Which of the known causes hold. Pure: the same evidence gives the same diagnosis. */
export function diagnose(db: ImportsDbEvidence, redis: ImportsRedisEvidence, worker: ImportsWorkerEvidence): Diagnosis {
  const causes: Diagnosis['causes'] = [];
  const f = worker.flag;
  if (f.value !== null && f.value !== '1') causes.push({ cause: 'disabled-flag', detail: `The worker's last start-up line says ${f.variable}=${f.value || '(empty)'}: it does not consume the queue (“${f.line}”).` });
  const down = worker.service?.running === false || (worker.service?.running !== true && worker.ping.replied.length === 0);
  if (down) causes.push({ cause: 'dead-worker', detail: `The imports worker is not running (${worker.service ? worker.service.detail : 'no service declared'}; Celery ping: ${worker.ping.replied.length ? worker.ping.replied.join(', ') : `no reply${worker.ping.error ? `, ${worker.ping.error.split('\n')[0]}` : ''}`}).` });
  const messages = redis.queueDepth + redis.inFlight;
  if (db.stuck.count > messages) causes.push({ cause: 'lost-messages', detail: `${db.stuck.count} item(s) waiting (${db.stuck.olderThan}) but only ${redis.queueDepth} message(s) in queue ${redis.queue} and ${redis.inFlight} in flight: ${db.stuck.count - messages} or more have no message.` });
  if (redis.staleLocks.length) causes.push({ cause: 'stale-lock', detail: `${redis.staleLocks.length} lock key(s) with no TTL, which nothing will release: ${redis.staleLocks.slice(0, 10).join(', ')}.` });
  if (db.rowLocks.length) causes.push({ cause: 'blocked-rows', detail: db.rowLocks.map((l) => `pid ${l.pid} (${l.user ?? '?'}) idle in a transaction for ${l.idleSeconds}s holding locks on ${l.tables.join(', ')}${l.blocking ? `, blocking ${l.blocking} session(s)` : ''}`).join('; ') + '.' });
  const refuseReenqueue = !redis.queueKnown ? `Queue ${redis.queue} was never declared in ${redis.broker} (no _kombu.binding.${redis.queue}): this is probably not the app's broker (wrong DB number or prefix). Messages published there would never be read; fix redis.url in the targets file.` : undefined;
  return { causes, refuseReenqueue };
}

export async function stuckImports(input: StuckImportsInput): Promise<RunbookResult<StuckImportsFindings>> {
  const rb = runbook('stuck-imports', input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.step('resolve-target', () => act.describeTarget(input.target));
    if (!target.imports || !target.hasRedis || !target.postgres) {
      throw ApplicationFailure.nonRetryable(`Target "${input.target}" needs postgres, redis and imports sections for stuck-imports.`, 'TargetConfigError');
    }
    const host = hostActivitiesFor(input, target);
    const stuckAfter = input.stuckAfter ?? target.imports.stuckAfter;
    const db = await rb.step('db-evidence', () => act.importsDbEvidence(input.target, { stuckAfter }), { inputs: { stuckAfter } });
    const redis = await rb.step('redis-evidence', () => act.importsRedisEvidence(input.target));
    const worker = await rb.step('worker-evidence', () => host.importsWorkerEvidence(input.target), { inputs: { service: target.imports.service ?? null } });
    const diagnosis = await rb.step('diagnose', async () => diagnose(db, redis, worker));
    const has = (c: Cause) => diagnosis.causes.some((d) => d.cause === c);
    const findings = (outcome: StuckImportsFindings['outcome'], more: Partial<StuckImportsFindings> = {}): StuckImportsFindings => ({ outcome, db, redis, worker, diagnosis, ...more });
    const end = (healthy: boolean, summary: string[], f: StuckImportsFindings) => ({ runbook: 'stuck-imports', target: input.target, healthy, summary, findings: f });
    const evidenceLines = [
      `Items by status: ${fmt(db.items)}; batches: ${fmt(db.batches)}; ${db.stuck.count} item(s) waiting longer than ${stuckAfter}${db.stuck.oldest ? ` (oldest update ${db.stuck.oldest})` : ''}.`,
      `Redis ${redis.broker}: PING ${redis.pingMs} ms, queue ${redis.queue} holds ${redis.queueDepth} message(s) (${redis.inFlight} in flight), ${redis.keys.length}${redis.keysTruncated ? '+' : ''} imports key(s).`,
      `Worker: ${worker.service ? worker.service.detail : 'no service declared'}; Celery ping ${worker.ping.replied.length ? `answered by ${worker.ping.replied.join(', ')}` : 'not answered'}; ${worker.flag.variable}=${worker.flag.value ?? '(no start-up line found)'}${worker.logSource ? ` (from ${worker.logSource})` : ''}.`,
    ];

    if (diagnosis.causes.length === 0) {
      return end(true, ['Nothing is stuck.', ...evidenceLines], findings('healthy'));
    }
    const diagnosisLines = diagnosis.causes.map((c) => `Cause: ${c.cause}: ${c.detail}`);
    const reenqueue = has('lost-messages') && !diagnosis.refuseReenqueue;
    const restart = has('dead-worker') || has('disabled-flag');
    const plan = [
      has('stale-lock') ? `delete ${redis.staleLocks.length} lock key(s) with no TTL (each checked again: a lock with a TTL is kept)` : undefined,
      has('blocked-rows') ? `end session(s) ${db.rowLocks.map((l) => l.pid).join(', ')} (pg_terminate_backend, only if still idle in a transaction on the import tables; their open transactions roll back)` : undefined,
      reenqueue ? `re-enqueue the ${db.stuck.count} stuck item(s) through the app's Celery app, each once: a ledger row per item and run (task id rb-<run>-<item>) is committed before its publish; done items are never selected; a duplicate delivery is a no-op only if the app's task changes status conditionally (… WHERE status in the waiting statuses) — check that it does` : undefined,
      restart ? `then restart the imports worker${target.imports.service ? ` (${target.imports.service})` : ''} behind its own gate` : undefined,
    ].filter((p): p is string => p !== undefined);
    if (input.dryRun) {
      return end(false, ['Dry run: nothing was changed.', ...diagnosisLines, ...evidenceLines, `Would: ${plan.join('; ') || 'nothing'}.`, ...(diagnosis.refuseReenqueue ? [diagnosis.refuseReenqueue] : [])], findings('dry-run'));
    }

    const remedies = has('stale-lock') || has('blocked-rows') || reenqueue;
    if (!remedies && !restart) {
      // Nothing this runbook may do (e.g. re-enqueue refused): say so now rather than wait for items that cannot move.
      return end(false, [...diagnosisLines, ...evidenceLines, ...(diagnosis.refuseReenqueue ? [`Not re-enqueued: ${diagnosis.refuseReenqueue}`] : []), 'Nothing was changed.'], findings('still-stuck'));
    }
    await rb.lockTarget();
    const more: Partial<StuckImportsFindings> = {};
    if (remedies) {
      await rb.gate('remediate', {
        prompt: `Imports are stuck on ${input.target}. ${diagnosisLines.join(' ')} Plan: ${plan.filter((p) => !p.startsWith('then restart')).join('; ')}.${diagnosis.refuseReenqueue ? ` Not re-enqueueing: ${diagnosis.refuseReenqueue}` : ''}`,
        evidence: { diagnosis, stuck: db.stuck, queueDepth: redis.queueDepth, staleLocks: redis.staleLocks, rowLocks: db.rowLocks },
      });
      if (has('stale-lock')) more.clearedLocks = await rb.step('clear-locks', () => act.importsClearStaleLocks(input.target, redis.staleLocks), { inputs: { keys: redis.staleLocks } });
      if (has('blocked-rows')) more.endedSessions = await rb.step('end-sessions', () => act.importsEndBlockingSessions(input.target, db.rowLocks.map((l) => l.pid)), { inputs: { pids: db.rowLocks.map((l) => l.pid) } });
      if (reenqueue) {
        const generation = workflowInfo().runId.replace(/-/g, '').slice(0, 12);
        more.reenqueue = await rb.step('reenqueue', () => activitiesFor(input, { taskQueue: target.taskQueue, long: true }).importsReenqueue(input.target, { generation, updatedBefore: db.stuck.cutoff, batchSize: input.batchSize }), { inputs: { generation, updatedBefore: db.stuck.cutoff, batchSize: input.batchSize ?? 1000 } });
      }
    }
    if (restart) {
      if (!target.imports.service) {
        return end(false, [...diagnosisLines, `The worker needs a restart, but target ${input.target} names no imports.service: restart it by hand.`], findings('still-stuck', more));
      }
      const svc = target.imports.service;
      await rb.gate('restart-worker', {
        prompt: `Restart the imports worker (${svc}) on ${input.target}? ${has('disabled-flag') ? `Its last start-up said ${worker.flag.variable}=${worker.flag.value}: set ${worker.flag.variable}=1 in its environment BEFORE approving, or it will start disabled again. ` : ''}${diagnosisLines.filter((l) => l.includes('dead-worker') || l.includes('disabled-flag')).join(' ')}`,
        evidence: { service: svc, status: worker.service, flag: worker.flag, startupLines: worker.startupLines },
      });
      more.restart = await rb.step('restart', () => host.serviceAction(input.target, svc, 'restart'), { inputs: { service: svc } });
      if (has('disabled-flag')) {
        // Waiting for items a disabled worker will never take would only waste the deadline.
        const again = await rb.step('flag-after-restart', () => host.importsWorkerEvidence(input.target));
        more.workerAfter = again;
        if (again.flag.value !== '1') {
          return end(false, [...diagnosisLines, `Restarted ${svc}, but its new start-up line still says ${again.flag.variable}=${again.flag.value ?? '(none found)'} (“${again.flag.line ?? ''}”): imports stay disabled. Set ${again.flag.variable}=1 in the service's environment and run stuck-imports again.`], findings('still-stuck', more));
        }
      }
    }

    // Verify: the stuck items move to done within the deadline.
    const deadline = Date.now() + parseDuration(input.verifyDeadline ?? '10m');
    // The items stuck at diagnosis are the ones not updated since its cutoff: new arrivals do not count.
    const since = { updatedBefore: db.stuck.cutoff };
    let after = await rb.step('verify', () => act.importsDbEvidence(input.target, since), { inputs: { deadline: input.verifyDeadline ?? '10m', ...since } });
    const remaining = (e: ImportsDbEvidence) => e.stuck.count;
    while (remaining(after) > 0 && Date.now() < deadline) {
      await sleep('2s');
      after = await act.importsDbEvidence(input.target, since);
    }
    more.after = after;
    const healthy = remaining(after) === 0;
    const summary = [
      ...diagnosisLines,
      ...(more.clearedLocks ? [`Deleted lock key(s): ${more.clearedLocks.deleted.join(', ') || 'none'}${more.clearedLocks.kept.length ? `; kept (they had a TTL by then): ${more.clearedLocks.kept.join(', ')}` : ''}.`] : []),
      ...(more.endedSessions ? [`Ended session(s): ${more.endedSessions.ended.join(', ') || 'none'}${more.endedSessions.gone.length ? `; already gone: ${more.endedSessions.gone.join(', ')}` : ''}.`] : []),
      ...(more.reenqueue ? [`Re-enqueued ${more.reenqueue.published} item(s) in ${more.reenqueue.batches} batch(es), generation ${more.reenqueue.generation} (ledger ${more.reenqueue.ledger}).`] : []),
      ...(diagnosis.refuseReenqueue ? [`Not re-enqueued: ${diagnosis.refuseReenqueue}`] : []),
      ...(more.restart ? [`Restarted ${more.restart.service}: ${more.restart.checks.map((c) => `${c.check} ${c.ok ? 'ok' : 'FAILED'} (${c.detail})`).join('; ')}.`] : []),
      healthy ? `Verified: none of the stuck items is waiting any more (items: ${fmt(after.items)}).` : `STILL STUCK after ${input.verifyDeadline ?? '10m'}: ${after.stuck.count} of the stuck item(s) still waiting (items: ${fmt(after.items)}); sample ids ${after.stuck.sample.join(', ')}.`,
    ];
    return end(healthy, summary, findings(healthy ? 'remedied' : 'still-stuck', more));
  });
}

function fmt(counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
}
