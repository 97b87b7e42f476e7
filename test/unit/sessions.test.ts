import { describe, expect, it } from 'vitest';
import { cookieValue, SESSION_COOKIE, SessionStore } from '../../src/api/sessions.js';

const bob = { name: 'bob', roles: ['approver' as const] };
const idOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('console sessions', () => {
  it('recognises the cookie it set until it expires, then no longer', () => {
    let now = 1_000_000;
    const store = new SessionStore({ ttlMs: 60_000, now: () => now });
    const { cookie, expiresAt } = store.open(bob);
    expect(expiresAt.getTime()).toBe(1_060_000);
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[\\w-]{43}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict$`));
    expect(store.authenticate(`theme=dark; ${idOf(cookie)}`)).toEqual(bob);
    now += 59_999;
    expect(store.authenticate(idOf(cookie))).toEqual(bob);
    now += 1;
    expect(store.authenticate(idOf(cookie))).toBeUndefined();
  });

  it('forgets a closed session and an unknown or empty cookie', () => {
    const store = new SessionStore();
    const { cookie } = store.open(bob);
    expect(store.authenticate(`${SESSION_COOKIE}=not-a-session`)).toBeUndefined();
    expect(store.authenticate(`${SESSION_COOKIE}=`)).toBeUndefined();
    expect(store.authenticate(undefined)).toBeUndefined();
    expect(store.close(idOf(cookie))).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
    expect(store.authenticate(idOf(cookie))).toBeUndefined();
  });

  it('replaces the session the browser still carries when it signs in again, and keeps at most 16 a person', () => {
    const store = new SessionStore();
    const first = idOf(store.open(bob).cookie);
    const second = idOf(store.open(bob, `x=1; ${first}`).cookie);
    expect(store.authenticate(first)).toBeUndefined();
    expect(store.authenticate(second)).toEqual(bob);
    const many = Array.from({ length: 20 }, () => idOf(store.open(bob).cookie));
    expect([second, ...many].filter((c) => store.authenticate(c)).length).toBe(16);
    expect(store.authenticate(many.at(-1))).toEqual(bob); // the newest stay
    expect(store.authenticate(second)).toBeUndefined(); // the oldest went
  });

  it('marks the cookie Secure when it must cross sites (SameSite=None)', () => {
    expect(new SessionStore({ sameSite: 'None' }).open(bob).cookie).toMatch(/; SameSite=None; Secure$/);
    expect(new SessionStore({ sameSite: 'Lax', secure: true }).open(bob).cookie).toMatch(/; SameSite=Lax; Secure$/);
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; b=two=2 ;c=3', 'b')).toBe('two=2');
    expect(cookieValue('ab=1', 'a')).toBeUndefined();
    expect(cookieValue(undefined, 'a')).toBeUndefined();
  });
});
