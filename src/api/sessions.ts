import { randomBytes } from 'node:crypto';
import type { Person } from './auth.js';
import { MemoryStateStore, type StateStore } from './state.js';

/**
 * Console sessions: signing in to the console with a bearer token also sets an HttpOnly cookie,
 * so that the Temporal UI, calling our codec endpoints from the browser with credentials, is
 * recognised as the same person. The cookie is accepted on the codec and session routes only;
 * every other route still needs the bearer token, so a page from another origin cannot act
 * with it. Sessions live in the API's state store: this process by default (an API restart signs
 * everyone out of the codec), or PostgreSQL shared by every replica (RUNBOOK_STATE_DATABASE_URL).
 */

export const SESSION_COOKIE = 'durable_runbooks_session';
const MAX_PER_PERSON = 16;

export interface SessionOptions {
  /** Default 8 hours. */
  ttlMs?: number;
  /** Strict (default): the UI and the API on one site (same host, other port). None needs https. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** Send the cookie over https only; default: on when sameSite is None. */
  secure?: boolean;
  now?: () => number;
}

export class SessionStore {
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly state: StateStore = new MemoryStateStore(),
    private readonly opts: SessionOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 8 * 3600_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * A new session for `person`, replacing the one the browser's Cookie header still carries (a
   * page reload signs in again); a person keeps at most MAX_PER_PERSON, the oldest dropped.
   * Returns the Set-Cookie header and when it expires.
   */
  async open(person: Person, cookieHeader?: string): Promise<{ cookie: string; expiresAt: Date }> {
    const now = this.now();
    await this.state.sweep(now);
    const previous = cookieValue(cookieHeader, SESSION_COOKIE);
    if (previous) await this.state.delete('session', previous);
    const id = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttlMs;
    // Name and roles only: what the codec needs to authorise, nothing the person signed in with.
    const value: Person = { name: person.name, roles: person.roles, ...(person.service ? { service: true } : {}) };
    await this.state.put('session', id, { value, expiresAt, owner: person.name }, now, { perOwner: MAX_PER_PERSON });
    return { cookie: this.cookie(id, Math.floor(this.ttlMs / 1000)), expiresAt: new Date(expiresAt) };
  }

  /** The person whose live session the Cookie header carries, or undefined. */
  async authenticate(cookieHeader: string | undefined): Promise<Person | undefined> {
    const id = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!id) return undefined;
    return (await this.state.get('session', id, this.now())) as Person | undefined;
  }

  /** Ends the session the Cookie header carries (if any), on every replica; returns the Set-Cookie that clears it. */
  async close(cookieHeader: string | undefined): Promise<string> {
    const id = cookieValue(cookieHeader, SESSION_COOKIE);
    if (id) await this.state.delete('session', id);
    return this.cookie('', 0);
  }

  private cookie(value: string, maxAge: number): string {
    const sameSite = this.opts.sameSite ?? 'Strict';
    const secure = this.opts.secure ?? sameSite === 'None';
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=${sameSite}${secure ? '; Secure' : ''}`;
  }
}

/** One cookie's value from a Cookie header (`a=1; b=2`), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
