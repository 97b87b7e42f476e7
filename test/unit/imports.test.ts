import { describe, expect, it } from 'vitest';
import { flagFromLines, qi, type ImportsDbEvidence, type ImportsRedisEvidence, type ImportsWorkerEvidence } from '../../src/activities/imports.js';
import { diagnose } from '../../src/workflows/stuck-imports.js';

const db = (over: Partial<ImportsDbEvidence> = {}): ImportsDbEvidence => ({
  batches: { done: 2 }, items: { done: 8 }, rowLocks: [],
  stuck: { count: 0, oldest: null, sample: [], olderThan: '15m', cutoff: '2026-11-25 03:00:00+00' }, ...over,
});
const redis = (over: Partial<ImportsRedisEvidence> = {}): ImportsRedisEvidence => ({
  broker: 'redis://10.0.0.5:6379/0', pingMs: 1, queue: 'imports', queueDepth: 0, inFlight: 0, queueKnown: true, keys: [], keysTruncated: false, staleLocks: [], ...over,
});
const worker = (over: Partial<ImportsWorkerEvidence> = {}): ImportsWorkerEvidence => ({
  service: { target: 't', service: 'imports', driver: 'systemd', running: true, detail: 'active' },
  flag: { variable: 'IMPORTS_ENABLED', value: '1', line: 'app.startup: IMPORTS_ENABLED=1' }, startupLines: [], logSource: null, ping: { replied: ['celery@w1'] }, ...over,
});

describe('stuck-imports diagnosis', () => {
  it('finds nothing when items flow, the worker runs enabled and no lock is stale', () => {
    expect(diagnose(db(), redis(), worker())).toEqual({ causes: [], refuseReenqueue: undefined });
  });

  it('lost messages: more stuck items than messages queued and in flight', () => {
    const stuck = db({ stuck: { count: 5, oldest: null, sample: [1], olderThan: '15m', cutoff: 'x' } });
    expect(diagnose(stuck, redis({ queueDepth: 3, inFlight: 2 }), worker()).causes).toEqual([]);
    expect(diagnose(stuck, redis({ queueDepth: 3, inFlight: 1 }), worker()).causes.map((c) => c.cause)).toEqual(['lost-messages']);
  });

  it('a dead worker: the service says so, or, with no service to ask, Celery ping gets no reply', () => {
    expect(diagnose(db(), redis(), worker({ service: { target: 't', service: 'imports', driver: 'command', running: false, detail: 'exited 1' } })).causes.map((c) => c.cause)).toEqual(['dead-worker']);
    expect(diagnose(db(), redis(), worker({ service: null, ping: { replied: [] } })).causes.map((c) => c.cause)).toEqual(['dead-worker']);
    // A running service busy in a long task does not answer ping: not dead.
    expect(diagnose(db(), redis(), worker({ ping: { replied: [] } })).causes).toEqual([]);
  });

  it('the flag from the newest start-up line, stale locks and blocked rows, each with its evidence', () => {
    const d = diagnose(
      db({ rowLocks: [{ pid: 42, user: 'app', state: 'idle in transaction', idleSeconds: 900, tables: ['import_items'], query: 'select … for update', blocking: 3 }] }),
      redis({ staleLocks: ['imports:lock:batch:9'] }),
      worker({ flag: { variable: 'IMPORTS_ENABLED', value: '0', line: 'app.startup: IMPORTS_ENABLED=0: disabled' } }),
    );
    expect(d.causes.map((c) => c.cause)).toEqual(['disabled-flag', 'stale-lock', 'blocked-rows']);
    expect(d.causes[2]!.detail).toBe('pid 42 (app) idle in a transaction for 900s holding locks on import_items, blocking 3 session(s).');
  });

  it('refuses re-enqueueing into a Redis DB where the queue was never declared', () => {
    expect(diagnose(db(), redis({ queueKnown: false }), worker()).refuseReenqueue).toMatch(/^Queue imports was never declared in redis:\/\/10\.0\.0\.5:6379\/0/);
  });
});

describe('imports helpers', () => {
  it('reads the flag from the newest line naming it', () => {
    const lines = ['2026 WARNING app.startup: imports worker ready: IMPORTS_ENABLED=1, consuming queue imports', '2026 WARNING app.startup: IMPORTS_ENABLED=0: imports are disabled'];
    expect(flagFromLines(lines, 'IMPORTS_ENABLED')).toEqual({ value: '0', line: lines[1] });
    expect(flagFromLines(lines.slice(0, 1), 'IMPORTS_ENABLED').value).toBe('1');
    expect(flagFromLines(['app.startup: booting'], 'IMPORTS_ENABLED')).toEqual({ value: null, line: null });
  });

  it('quotes table names from the targets file, schema-qualified too', () => {
    expect(qi('import_items')).toBe('"import_items"');
    expect(qi('app.import_items')).toBe('"app"."import_items"');
    expect(qi('x"; drop table y; --')).toBe('"x""; drop table y; --"');
  });
});
