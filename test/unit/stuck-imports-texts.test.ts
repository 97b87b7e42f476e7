import { describe, expect, it } from 'vitest';
import type {
  ImportsDbEvidence,
  ImportsRedisEvidence,
  ImportsWorkerEvidence,
  ServiceEvidence,
} from '../../src/activities/index.js';
import {
  evidenceLines,
  failedLines,
  remediateGate,
  remediedSummary,
  remedyPlan,
} from '../../src/runbooks/stuck-imports/texts.js';

const db = (over: Partial<ImportsDbEvidence> = {}): ImportsDbEvidence => ({
  batches: { done: 2 },
  items: { done: 8, pending: 3 },
  rowLocks: [],
  stuck: { count: 3, oldest: null, sample: [7, 8, 9], olderThan: '15m', cutoff: '2026-11-25 03:00:00+00' },
  ...over,
});
const redis: ImportsRedisEvidence = {
  broker: 'redis://10.0.0.5:6379/0',
  pingMs: 1,
  queue: 'imports',
  queueDepth: 0,
  inFlight: 0,
  queueKnown: true,
  keys: [{ key: 'imports:lock:1', type: 'string', ttl: -1 }],
  keysTruncated: true,
  staleLocks: ['imports:lock:1'],
};
const worker: ImportsWorkerEvidence = {
  service: null,
  flag: { variable: 'IMPORTS_ENABLED', value: null, line: null },
  startupLines: [],
  logSource: null,
  ping: { replied: [] },
};
const failed = { count: 4, statuses: ['error'], sample: [1, 2], alreadyRetried: 1, alreadyRetriedSample: [5] };

describe("stuck-imports' texts", () => {
  it('says the evidence in three lines, with what was not found', () => {
    expect(evidenceLines({ db: db(), redis, worker }, '15m')).toEqual([
      'Items by status: done 8, pending 3; batches: done 2; 3 item(s) waiting longer than 15m.',
      'Redis redis://10.0.0.5:6379/0: PING 1 ms, queue imports holds 0 message(s) (0 in flight), 1+ imports key(s).',
      'Worker: no service declared; Celery ping not answered; IMPORTS_ENABLED=(no start-up line found).',
    ]);
  });

  it('names failed items as not retried without retryFailed, and the ones an earlier run retried with it', () => {
    expect(failedLines(failed, false)).toEqual([
      '4 item(s) failed (error): not retried; run with retryFailed: true to retry each once.',
    ]);
    expect(failedLines(failed, true)).toEqual([
      '1 failed item(s) were already retried once by an earlier run and are not retried again (ids 5): look at them by hand.',
    ]);
    expect(failedLines(undefined, true)).toEqual([]);
  });

  it('plans the restart first after the broker lost its data, and leaves it out of the remediate gate', () => {
    const evidence = { db: db({ failed: failed }), redis, worker };
    const plan = remedyPlan({
      ...evidence,
      restartFirst: true,
      restartAfter: false,
      staleLocks: true,
      blockedRows: false,
      reenqueue: false,
      toRetry: 3,
      service: 'gestiq-worker-imports',
    });
    expect(plan).toEqual([
      'first restart the imports worker (gestiq-worker-imports) behind its own gate, so that it declares queue imports again, and check that _kombu.binding.imports is back before any of the rest',
      'delete 1 lock key(s) with no TTL (each checked again: a lock with a TTL is kept)',
      'retry the 3 failed item(s) (error; ids 1, 2, …), each once ever: set back to waiting and published through the same ledger, which records that it was retried so no later run retries it again',
    ]);
    const gate = remediateGate(evidence, {
      target: 'prod',
      diagnosis: { causes: [{ cause: 'stale-lock', detail: 'D.' }], refuseReenqueue: undefined },
      plan,
      bindingAfterRestart: { queue: 'imports', broker: redis.broker, known: true, waitedMs: 2400 },
      failedToRetry: 3,
    });
    expect(gate.prompt).toBe(
      'Imports are stuck on prod. Cause: stale-lock: D. The restarted worker declared queue imports again in redis://10.0.0.5:6379/0 (_kombu.binding.imports is back after 2s): this is the broker it consumes. Plan: delete 1 lock key(s) with no TTL (each checked again: a lock with a TTL is kept); retry the 3 failed item(s) (error; ids 1, 2, …), each once ever: set back to waiting and published through the same ledger, which records that it was retried so no later run retries it again.',
    );
    expect(gate.evidence).toMatchObject({ failed: { count: 4, toRetry: 3 }, bindingAfterRestart: { waitedMs: 2400 } });
  });

  it('sums up the remedies in the order they ran, and what is still stuck', () => {
    const restart = {
      service: 'gestiq-worker-imports',
      checks: [{ check: 'active', ok: false, detail: 'inactive' }],
    } as unknown as ServiceEvidence;
    const after = db({ items: { pending: 2 }, stuck: { ...db().stuck, count: 2, sample: [8, 9] } });
    const summary = remediedSummary(
      { diagnosis: ['Cause: dead-worker: X.'], evidence: [], failed: [] },
      {
        restartFirst: false,
        restart,
        clearedLocks: { deleted: [], kept: ['imports:lock:1'] },
        endedSessions: { ended: [41], gone: [] },
      },
      { queue: 'imports', after, remaining: 2, verifyDeadline: '10m' },
    );
    expect(summary).toEqual([
      'Cause: dead-worker: X.',
      'Deleted lock key(s): none; kept (they had a TTL by then): imports:lock:1.',
      'Ended session(s): 41.',
      'Restarted gestiq-worker-imports: active FAILED (inactive).',
      'STILL STUCK after 10m: 2 of the stuck item(s) still waiting (items: pending 2); sample ids 8, 9.',
    ]);
  });
});
