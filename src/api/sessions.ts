import { randomBytes } from 'node:crypto';
import { sha256, type Person } from './auth.js';

/**
 * Console sessions: signing in to the console with a bearer token also sets an HttpOnly cookie,
 * so that the Temporal UI, calling our codec endpoints from the browser with credentials, is
 * recognised as the same person. The cookie is accepted on the codec and session routes only;
 * every other route still needs the bearer token, so a page from another origin cannot act
 * with it. Sessions live in this process (an API restart signs everyone out of the codec).
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
  private readonly byHash = new Map<string, { person: Person; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: SessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 8 * 3600_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * A new session for `person`, replacing the one the browser's Cookie header still carries (a
   * page reload signs in again); a person keeps at most MAX_PER_PERSON, the oldest dropped.
   * Returns the Set-Cookie header and when it expires.
   */
  open(person: Person, cookieHeader?: string): { cookie: string; expiresAt: Date } {
    this.sweep();
    const previous = cookieValue(cookieHeader, SESSION_COOKIE);
    if (previous) this.byHash.delete(sha256(previous));
    const mine = [...this.byHash].filter(([, s]) => s.person.name === person.name).sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [h] of mine.slice(0, Math.max(0, mine.length - MAX_PER_PERSON + 1))) this.byHash.delete(h);
    const id = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.byHash.set(sha256(id), { person, expiresAt });
    return { cookie: this.cookie(id, Math.floor(this.ttlMs / 1000)), expiresAt: new Date(expiresAt) };
  }

  /** The person whose live session the Cookie header carries, or undefined. */
  authenticate(cookieHeader: string | undefined): Person | undefined {
    const id = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!id) return undefined;
    const s = this.byHash.get(sha256(id));
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.byHash.delete(sha256(id));
      return undefined;
    }
    return s.person;
  }

  /** Ends the session the Cookie header carries (if any); returns the Set-Cookie that clears it. */
  close(cookieHeader: string | undefined): string {
    const id = cookieValue(cookieHeader, SESSION_COOKIE);
    if (id) this.byHash.delete(sha256(id));
    return this.cookie('', 0);
  }

  private cookie(value: string, maxAge: number): string {
    const sameSite = this.opts.sameSite ?? 'Strict';
    const secure = this.opts.secure ?? sameSite === 'None';
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=${sameSite}${secure ? '; Secure' : ''}`;
  }

  private sweep(): void {
    const now = this.now();
    for (const [h, s] of this.byHash) if (s.expiresAt <= now) this.byHash.delete(h);
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
