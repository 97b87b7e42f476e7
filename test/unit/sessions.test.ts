import { describe, expect, it } from 'vitest';
import { cookieValue, SESSION_COOKIE, SessionStore } from '../../src/api/sessions.js';
import { MemoryStateStore, seal, unseal } from '../../src/api/state.js';

const bob = { name: 'bob', roles: ['approver' as const] };
const idOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('console sessions', () => {
  it('recognises the cookie it set until it expires, then no longer', async () => {
    let now = 1_000_000;
    const store = new SessionStore(new MemoryStateStore(), { ttlMs: 60_000, now: () => now });
    const { cookie, expiresAt } = await store.open(bob);
    expect(expiresAt.getTime()).toBe(1_060_000);
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[\\w-]{43}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict$`));
    expect(await store.authenticate(`theme=dark; ${idOf(cookie)}`)).toEqual(bob);
    now += 59_999;
    expect(await store.authenticate(idOf(cookie))).toEqual(bob);
    now += 1;
    expect(await store.authenticate(idOf(cookie))).toBeUndefined();
  });

  it('forgets a closed session and an unknown or empty cookie', async () => {
    const store = new SessionStore();
    const { cookie } = await store.open(bob);
    expect(await store.authenticate(`${SESSION_COOKIE}=not-a-session`)).toBeUndefined();
    expect(await store.authenticate(`${SESSION_COOKIE}=`)).toBeUndefined();
    expect(await store.authenticate(undefined)).toBeUndefined();
    expect(await store.close(idOf(cookie))).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
    expect(await store.authenticate(idOf(cookie))).toBeUndefined();
  });

  it('replaces the session the browser still carries when it signs in again, and keeps at most 16 a person', async () => {
    const store = new SessionStore();
    const first = idOf((await store.open(bob)).cookie);
    const second = idOf((await store.open(bob, `x=1; ${first}`)).cookie);
    expect(await store.authenticate(first)).toBeUndefined();
    expect(await store.authenticate(second)).toEqual(bob);
    const many: string[] = [];
    for (let i = 0; i < 20; i++) many.push(idOf((await store.open(bob)).cookie));
    const live = await Promise.all([second, ...many].map((c) => store.authenticate(c)));
    expect(live.filter(Boolean).length).toBe(16);
    expect(await store.authenticate(many.at(-1))).toEqual(bob); // the newest stay
    expect(await store.authenticate(second)).toBeUndefined(); // the oldest went
  });

  it('marks the cookie Secure when it must cross sites (SameSite=None)', async () => {
    expect((await new SessionStore(new MemoryStateStore(), { sameSite: 'None' }).open(bob)).cookie).toMatch(
      /; SameSite=None; Secure$/,
    );
    expect(
      (await new SessionStore(new MemoryStateStore(), { sameSite: 'Lax', secure: true }).open(bob)).cookie,
    ).toMatch(/; SameSite=Lax; Secure$/);
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; b=two=2 ;c=3', 'b')).toBe('two=2');
    expect(cookieValue('ab=1', 'a')).toBeUndefined();
    expect(cookieValue(undefined, 'a')).toBeUndefined();
  });
});

describe('sealed state values', () => {
  it('opens only with the secret it was sealed with, and not once altered', () => {
    const sealed = seal('handoff-id.binding', { token: 'eyJ.secret.token', name: 'ana' });
    expect(sealed).not.toContain('secret');
    expect(unseal('handoff-id.binding', sealed)).toEqual({ token: 'eyJ.secret.token', name: 'ana' });
    expect(unseal('handoff-id.other-browser', sealed)).toBeUndefined();
    const flipped = Buffer.from(sealed, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    expect(unseal('handoff-id.binding', flipped.toString('base64url'))).toBeUndefined();
    expect(unseal('handoff-id.binding', 'short')).toBeUndefined();
    expect(unseal('handoff-id.binding', { not: 'a string' })).toBeUndefined();
  });

  it('seals the same value differently each time (a fresh IV)', () => {
    expect(seal('k', 1)).not.toBe(seal('k', 1));
  });
});
