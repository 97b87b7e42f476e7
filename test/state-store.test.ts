import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../src/api/auth.js';
import { SESSION_COOKIE, SessionStore } from '../src/api/sessions.js';
import { PgStateStore, STATE_TABLE } from '../src/api/state-postgres.js';
import { MemoryStateStore, StateStoreError, StateUnavailable, type StateStore } from '../src/api/state.js';
import { createDatabase, dropDatabase, PG, sql } from './support/harness.js';
import { freePort } from './support/ports.js';

// The API's state store, the same behaviour in memory and in PostgreSQL (a throwaway database
// for this file): expiry on a clock the test sets, one-time takes, the per-person cap, the bound
// on sign-ins in progress, and only hashes of ids at rest.
const urlOf = (db: string) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
let db: string;
beforeAll(async () => {
  db = await createDatabase('rbstate');
});
afterAll(async () => {
  if (db) await dropDatabase(db);
});

const kinds = [
  { name: 'in memory', open: async (): Promise<StateStore> => new MemoryStateStore() },
  { name: 'in PostgreSQL', open: async (): Promise<StateStore> => PgStateStore.open(urlOf(db)) },
];

describe.each(kinds)('state store $name', ({ open }) => {
  let store: StateStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store?.close();
  });
  const ann = { name: 'ann', roles: ['viewer'] };

  it('keeps a value until it expires, then not', async () => {
    await store.put('session', 'id-expiry', { value: ann, expiresAt: 2_000, owner: 'ann' }, 1_000);
    expect(await store.get('session', 'id-expiry', 1_999)).toEqual(ann);
    expect(await store.get('session', 'id-expiry', 2_000)).toBeUndefined();
    expect(await store.get('hand-off', 'id-expiry', 1_000)).toBeUndefined(); // another kind, another entry
  });

  it('gives a taken value once, and an expired one never', async () => {
    await store.put('hand-off', 'id-once', { value: 'sealed', expiresAt: 5_000 }, 1_000);
    expect(await store.take('hand-off', 'id-once', 1_000)).toBe('sealed');
    expect(await store.take('hand-off', 'id-once', 1_000)).toBeUndefined();
    await store.put('hand-off', 'id-late', { value: 'sealed', expiresAt: 5_000 }, 1_000);
    expect(await store.take('hand-off', 'id-late', 5_000)).toBeUndefined();
  });

  it('keeps at most the cap a person, dropping the sessions that expire first', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `cap-${i}`);
    // Two share an expiry: the one written first goes first.
    for (const [i, id] of ids.entries())
      await store.put(
        'session',
        id,
        { value: ann, expiresAt: 10_000 + [0, 1, 2, 2, 3, 4][i]!, owner: 'cap-owner' },
        1_000,
        { perOwner: 3 },
      );
    const live = await Promise.all(ids.map((id) => store.get('session', id, 1_000)));
    expect(live.map(Boolean)).toEqual([false, false, false, true, true, true]);
  });

  it('refuses a new sign-in once the bound of live ones is reached; expired ones do not count', async () => {
    expect(await store.put('sign-in', 'bound-a', { value: 'x', expiresAt: 3_000 }, 1_000, { atMost: 2 })).toBe(true);
    expect(await store.put('sign-in', 'bound-b', { value: 'x', expiresAt: 9_000 }, 1_000, { atMost: 2 })).toBe(true);
    expect(await store.put('sign-in', 'bound-c', { value: 'x', expiresAt: 9_000 }, 1_000, { atMost: 2 })).toBe(false);
    expect(await store.put('sign-in', 'bound-c', { value: 'x', expiresAt: 9_000 }, 3_000, { atMost: 2 })).toBe(true);
    expect(await store.get('sign-in', 'bound-c', 3_000)).toBe('x');
  });

  it('forgets a deleted entry, and sweeps the expired ones', async () => {
    await store.put('session', 'gone', { value: ann, expiresAt: 50_000 }, 1_000);
    await store.delete('session', 'gone');
    expect(await store.get('session', 'gone', 1_000)).toBeUndefined();
    await store.sweep(10_000_000_000_000);
    expect(await store.get('session', 'cap-5', 1_000)).toBeUndefined();
  });
});

describe('state in PostgreSQL, shared by two API processes', () => {
  let one: PgStateStore;
  let two: PgStateStore;
  let shared: string;
  beforeAll(async () => {
    shared = await createDatabase('rbstate');
    // Two replicas starting at once both create the table (IF NOT EXISTS alone races in PostgreSQL).
    [one, two] = await Promise.all([PgStateStore.open(urlOf(shared)), PgStateStore.open(urlOf(shared))]);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    if (shared) await dropDatabase(shared);
  });

  it('stores hashes of ids, never the ids, and a session holds the name and roles only', async () => {
    const sessions = new SessionStore(one);
    const { cookie } = await sessions.open({ name: 'dora', roles: ['approver'] });
    const id = cookie.split(';')[0]!.slice(SESSION_COOKIE.length + 1);
    const rows = await sql<{ kind: string; key_sha256: string; owner: string; value: unknown }>(
      shared,
      `select kind, key_sha256, owner, value from ${STATE_TABLE} where owner = 'dora'`,
    );
    expect(rows).toEqual([
      { kind: 'session', key_sha256: sha256(id), owner: 'dora', value: { name: 'dora', roles: ['approver'] } },
    ]);
    expect(JSON.stringify(await sql(shared, `select * from ${STATE_TABLE}`))).not.toContain(id);
  });

  it('lets one process take a one-time id and the other not, even when both try at once', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    for (const id of ids) await one.put('hand-off', id, { value: id, expiresAt: Date.now() + 60_000 }, Date.now());
    const takes = await Promise.all(
      ids.flatMap((id) => [one.take('hand-off', id, Date.now()), two.take('hand-off', id, Date.now())]),
    );
    expect(takes.filter((t) => t !== undefined).sort()).toEqual([...ids].sort());
  });

  it('holds the per-person cap when two processes open sessions for the same person at once', async () => {
    const a = new SessionStore(one);
    const b = new SessionStore(two);
    const erin = { name: 'erin', roles: ['viewer' as const] };
    await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).open(erin)));
    const rows = await sql<{ n: number }>(
      shared,
      `select count(*)::int as n from ${STATE_TABLE} where kind = 'session' and owner = 'erin'`,
    );
    expect(rows).toEqual([{ n: 16 }]);
  });

  it('says when the database is gone, without its URL', async () => {
    const doomed = await createDatabase('rbstate');
    const store = await PgStateStore.open(urlOf(doomed));
    await dropDatabase(doomed);
    const err = await store.get('session', 'any', Date.now()).then(
      () => undefined,
      (e: unknown) => e,
    );
    await store.close();
    expect(err).toBeInstanceOf(StateUnavailable);
    expect((err as Error).message).toMatch(/^The API's state database \(RUNBOOK_STATE_DATABASE_URL\) did not answer: /);
    expect((err as Error).message).not.toContain('postgres://');
  });

  it('refuses to start on a database it cannot reach, naming the variable and never the password', async () => {
    const port = await freePort();
    for (const url of [
      `postgres://runbooks:hunter2secret@127.0.0.1:${port}/state`,
      `postgres://nobody:hunter2secret@${PG.host}:${PG.port}/no_such_db`,
    ]) {
      const err = await PgStateStore.open(url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StateStoreError);
      expect((err as Error).message).toMatch(
        /^The API cannot use its state database \(RUNBOOK_STATE_DATABASE_URL\): .+\. Check that PostgreSQL answers/,
      );
      expect((err as Error).message).not.toContain('hunter2secret');
    }
  });
});
