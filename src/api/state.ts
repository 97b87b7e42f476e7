import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { sha256 } from './auth.js';

/**
 * What the API keeps between requests: console sessions, SSO sign-ins in progress and their
 * one-time hand-offs. One interface, two stores: in this process (the default, `npm start`) or
 * in PostgreSQL (RUNBOOK_STATE_DATABASE_URL), so that API replicas share it and a restart signs
 * nobody out. Ids are stored as SHA-256 hashes only; what must stay secret in a value (a PKCE
 * verifier, a hand-off's access token) is sealed with a key derived from what the browser holds.
 */

export type StateKind = 'session' | 'sign-in' | 'hand-off';

export interface StateEntry {
  /** JSON. */
  value: unknown;
  /** Epoch milliseconds; the entry is gone from then on. */
  expiresAt: number;
  /** Whose entry it is (a person's name), for perOwner. */
  owner?: string;
}

export interface PutLimits {
  /** The owner keeps at most this many entries of the kind: the ones expiring first are dropped. */
  perOwner?: number;
  /** Refuse (put answers false) when the kind already holds this many live entries. */
  atMost?: number;
}

export interface StateStore {
  /** Keeps `entry` under (kind, id), replacing one there; false when `limits.atMost` refused it. */
  put(kind: StateKind, id: string, entry: StateEntry, now: number, limits?: PutLimits): Promise<boolean>;
  /** The live value under (kind, id), or undefined. */
  get(kind: StateKind, id: string, now: number): Promise<unknown>;
  /** Removes (kind, id) and returns its value if it was live: one caller wins, on every replica. */
  take(kind: StateKind, id: string, now: number): Promise<unknown>;
  delete(kind: StateKind, id: string): Promise<void>;
  /** Drops every entry expired at `now`. Called on writes: expired entries only pile up through writes. */
  sweep(now: number): Promise<void>;
  close(): Promise<void>;
}

/** The store cannot answer (PostgreSQL down or unreachable): the API answers 503, details in its log. */
export class StateUnavailable extends Error {
  override name = 'StateUnavailable';
  /** `detail`: the driver's reason, without the URL or its password. */
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

/** The store cannot be used at start: a start-up error that names the variable, never its value. */
export class StateStoreError extends Error {
  override name = 'StateStoreError';
}

interface Held extends StateEntry {
  kind: StateKind;
}

/** In this process: an API restart forgets everything, and another replica sees nothing. */
export class MemoryStateStore implements StateStore {
  private readonly entries = new Map<string, Held>();

  async put(kind: StateKind, id: string, entry: StateEntry, now: number, limits: PutLimits = {}): Promise<boolean> {
    const key = `${kind}:${sha256(id)}`;
    if (limits.atMost !== undefined && !this.entries.has(key)) {
      let live = 0;
      for (const e of this.entries.values()) if (e.kind === kind && e.expiresAt > now) live++;
      if (live >= limits.atMost) return false;
    }
    this.entries.delete(key); // a replaced entry counts as the newest
    this.entries.set(key, { ...entry, kind });
    if (limits.perOwner !== undefined && entry.owner !== undefined) {
      // Stable sort: among equal expiries the earlier inserted goes first.
      const mine = [...this.entries]
        .filter(([, e]) => e.kind === kind && e.owner === entry.owner)
        .sort((a, b) => a[1].expiresAt - b[1].expiresAt);
      for (const [k] of mine.slice(0, Math.max(0, mine.length - limits.perOwner))) this.entries.delete(k);
    }
    return true;
  }

  async get(kind: StateKind, id: string, now: number): Promise<unknown> {
    const key = `${kind}:${sha256(id)}`;
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt > now) return e.value;
    this.entries.delete(key);
    return undefined;
  }

  async take(kind: StateKind, id: string, now: number): Promise<unknown> {
    const key = `${kind}:${sha256(id)}`;
    const e = this.entries.get(key);
    this.entries.delete(key);
    return e && e.expiresAt > now ? e.value : undefined;
  }

  async delete(kind: StateKind, id: string): Promise<void> {
    this.entries.delete(`${kind}:${sha256(id)}`);
  }

  async sweep(now: number): Promise<void> {
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

const sealKey = (secret: string) => Buffer.from(hkdfSync('sha256', secret, '', 'durable-runbooks api state', 32));

/**
 * `value` encrypted (AES-256-GCM) with a key derived from `secret`: what only the browser holds
 * (a hand-off id, a sign-in's binding cookie), so the stored row alone reveals nothing.
 */
export function seal(secret: string, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(secret), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64url');
}

/** The value `seal` kept, or undefined when `secret` is not the one it was sealed with (or the text was altered). */
export function unseal(secret: string, sealed: unknown): unknown {
  if (typeof sealed !== 'string') return undefined;
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey(secret), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
  } catch {
    return undefined;
  }
}
