import { describe, expect, it } from 'vitest';
import {
  bannerFromLines,
  brokerKey,
  flagFromLines,
  qi,
  type ImportsDbEvidence,
  type ImportsRedisEvidence,
  type ImportsWorkerEvidence,
} from '../../src/activities/imports.js';
import { diagnose } from '../../src/runbooks/stuck-imports/workflow.js';

const db = (over: Partial<ImportsDbEvidence> = {}): ImportsDbEvidence => ({
  batches: { done: 2 },
  items: { done: 8 },
  rowLocks: [],
  stuck: { count: 0, oldest: null, sample: [], olderThan: '15m', cutoff: '2026-11-25 03:00:00+00' },
  ...over,
});
const redis = (over: Partial<ImportsRedisEvidence> = {}): ImportsRedisEvidence => ({
  broker: 'redis://10.0.0.5:6379/0',
  pingMs: 1,
  queue: 'imports',
  queueDepth: 0,
  inFlight: 0,
  queueKnown: true,
  keys: [],
  keysTruncated: false,
  staleLocks: [],
  ...over,
});
const worker = (over: Partial<ImportsWorkerEvidence> = {}): ImportsWorkerEvidence => ({
  service: { target: 't', service: 'imports', driver: 'systemd', running: true, detail: 'active' },
  flag: { variable: 'IMPORTS_ENABLED', value: '1', line: 'app.startup: IMPORTS_ENABLED=1' },
  startupLines: [],
  logSource: null,
  ping: { replied: ['celery@w1'] },
  ...over,
});

describe('stuck-imports diagnosis', () => {
  it('finds nothing when items flow, the worker runs enabled and no lock is stale', () => {
    expect(diagnose(db(), redis(), worker())).toEqual({ causes: [], refuseReenqueue: undefined });
  });

  it('lost messages: more stuck items than messages queued and in flight', () => {
    const stuck = db({ stuck: { count: 5, oldest: null, sample: [1], olderThan: '15m', cutoff: 'x' } });
    expect(diagnose(stuck, redis({ queueDepth: 3, inFlight: 2 }), worker()).causes).toEqual([]);
    expect(diagnose(stuck, redis({ queueDepth: 3, inFlight: 1 }), worker()).causes.map((c) => c.cause)).toEqual([
      'lost-messages',
    ]);
  });

  it('a dead worker: the service says so, or, with no service to ask, Celery ping gets no reply', () => {
    expect(
      diagnose(
        db(),
        redis(),
        worker({ service: { target: 't', service: 'imports', driver: 'command', running: false, detail: 'exited 1' } }),
      ).causes.map((c) => c.cause),
    ).toEqual(['dead-worker']);
    expect(
      diagnose(db(), redis(), worker({ service: null, ping: { replied: [] } })).causes.map((c) => c.cause),
    ).toEqual(['dead-worker']);
    // A running service busy in a long task does not answer ping: not dead.
    expect(diagnose(db(), redis(), worker({ ping: { replied: [] } })).causes).toEqual([]);
  });

  it('the flag from the newest start-up line, stale locks and blocked rows, each with its evidence', () => {
    const d = diagnose(
      db({
        rowLocks: [
          {
            pid: 42,
            user: 'app',
            state: 'idle in transaction',
            idleSeconds: 900,
            tables: ['import_items'],
            query: 'select … for update',
            blocking: 3,
          },
        ],
      }),
      redis({ staleLocks: ['imports:lock:batch:9'] }),
      worker({ flag: { variable: 'IMPORTS_ENABLED', value: '0', line: 'app.startup: IMPORTS_ENABLED=0: disabled' } }),
    );
    expect(d.causes.map((c) => c.cause)).toEqual(['disabled-flag', 'stale-lock', 'blocked-rows']);
    expect(d.causes[2]!.detail).toBe(
      'pid 42 (app) idle in a transaction for 900s holding locks on import_items, blocking 3 session(s).',
    );
  });

  it('refuses re-enqueueing into a Redis DB where the queue was never declared', () => {
    expect(diagnose(db(), redis({ queueKnown: false }), worker()).refuseReenqueue).toMatch(
      /^Queue imports was never declared in redis:\/\/10\.0\.0\.5:6379\/0/,
    );
  });

  const lostAll = db({
    stuck: {
      count: 5,
      oldest: '2026-11-25 02:50:00+00',
      sample: [1],
      olderThan: '15m',
      cutoff: 'x',
      oldestAgeSeconds: 600,
    },
  });
  const emptied = redis({
    queueKnown: false,
    server: { uptimeSeconds: 40, keysInDb: 0, appendOnly: false, savePoints: '' },
  });
  const banner = {
    url: 'redis://10.0.0.5:6379/0',
    queues: ['imports'],
    line: '.> transport:   redis://10.0.0.5:6379/0',
  };

  it("no binding, but the worker's banner names this broker: the broker restarted, the worker is restarted before any re-enqueue", () => {
    const d = diagnose(lostAll, emptied, worker({ broker: { ...banner, sameAsTarget: true } }));
    expect(d.causes.map((c) => c.cause)).toEqual(['lost-messages', 'broker-restarted']);
    expect(d.refuseReenqueue).toBeUndefined();
    expect(d.causes[1]!.detail).toBe(
      "Queue imports is not declared in redis://10.0.0.5:6379/0 (no _kombu.binding.imports), yet this is the app's broker: the worker's last start-up banner names it (.> transport:   redis://10.0.0.5:6379/0, queues imports) and 5 item(s) wait for queue imports. Redis has been up 40s, less than the 600s since the oldest stuck item was last updated: it restarted after the items were queued and keeps nothing across a restart (appendonly no, no save points); this DB holds 0 key(s). The messages and the binding were lost together. A Celery worker declares its queues when it starts: restart it first, check that the binding is back, then re-enqueue.",
    );
  });

  it('no binding and a banner naming another broker, or none: still refused', () => {
    expect(
      diagnose(lostAll, emptied, worker({ broker: { ...banner, url: 'redis://10.0.0.5:6379/3', sameAsTarget: false } }))
        .refuseReenqueue,
    ).toMatch(/^Queue imports was never declared/);
    expect(diagnose(lostAll, emptied, worker({ broker: null })).causes.map((c) => c.cause)).toEqual(['lost-messages']);
    expect(diagnose(lostAll, emptied, worker()).refuseReenqueue).toMatch(/probably not the app's broker/);
  });
});

describe('imports helpers', () => {
  it('reads the flag from the newest line naming it', () => {
    const lines = [
      '2026 WARNING app.startup: imports worker ready: IMPORTS_ENABLED=1, consuming queue imports',
      '2026 WARNING app.startup: IMPORTS_ENABLED=0: imports are disabled',
    ];
    expect(flagFromLines(lines, 'IMPORTS_ENABLED')).toEqual({ value: '0', line: lines[1] });
    expect(flagFromLines(lines.slice(0, 1), 'IMPORTS_ENABLED').value).toBe('1');
    expect(flagFromLines(['app.startup: booting'], 'IMPORTS_ENABLED')).toEqual({ value: null, line: null });
  });

  it('reads the broker and queues from the newest Celery banner, credentials masked', () => {
    const lines = [
      '- ** ---------- .> transport:   redis://127.0.0.1:6379/2',
      '.> old exchange=old(direct) key=old',
      'worker: Warm shutdown',
      '- ** ---------- .> transport:   redis://:**@127.0.0.1:6390/0',
      '- ** ---------- .> results:     disabled://',
      '[queues]',
      '                .> imports          exchange=imports(direct) key=imports',
      '[tasks]',
    ];
    expect(bannerFromLines(lines)).toEqual({
      url: 'redis://127.0.0.1:6390/0',
      queues: ['imports'],
      line: '.> transport:   redis://127.0.0.1:6390/0',
    });
    expect(bannerFromLines(['app.startup: IMPORTS_ENABLED=1'])).toBeNull();
  });

  it('compares brokers by scheme, host, port and DB number, whatever the spelling', () => {
    expect(brokerKey('redis://:secret@localhost/0')).toBe(brokerKey('redis://127.0.0.1:6379'));
    expect(brokerKey('redis://127.0.0.1:6379//')).toBe(brokerKey('redis://127.0.0.1:6379/0'));
    expect(brokerKey('redis://127.0.0.1:6379/3')).not.toBe(brokerKey('redis://127.0.0.1:6379/0'));
    expect(brokerKey('rediss://10.0.0.5:6379/0')).not.toBe(brokerKey('redis://10.0.0.5:6379/0'));
  });

  it('quotes table names from the targets file, schema-qualified too', () => {
    expect(qi('import_items')).toBe('"import_items"');
    expect(qi('app.import_items')).toBe('"app"."import_items"');
    expect(qi('x"; drop table y; --')).toBe('"x""; drop table y; --"');
  });
});
