import pg from 'pg';
import { redact } from '../util/redact.js';
import { sha256 } from './auth.js';
import {
  StateStoreError,
  StateUnavailable,
  type PutLimits,
  type StateEntry,
  type StateKind,
  type StateStore,
} from './state.js';

/**
 * The API's state in PostgreSQL (RUNBOOK_STATE_DATABASE_URL), shared by every API replica. One
 * table, created at start: rows keyed by (kind, SHA-256 of the id), with an expiry. Every
 * request reads the table (no cache), so a sign-out on one replica holds on all of them.
 */

export const STATE_TABLE = 'runbook_api_state';
const VARIABLE = 'RUNBOOK_STATE_DATABASE_URL';

const schema = `
  create table if not exists ${STATE_TABLE} (
    kind text not null,
    key_sha256 text not null,
    owner text,
    value jsonb not null,
    expires_at timestamptz not null,
    seq bigint generated always as identity,
    primary key (kind, key_sha256)
  );
  create index if not exists ${STATE_TABLE}_expiry on ${STATE_TABLE} (expires_at);
  create index if not exists ${STATE_TABLE}_owner on ${STATE_TABLE} (kind, owner, expires_at)`;

export class PgStateStore implements StateStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly secrets: string[],
  ) {}

  /** Connects and creates the table; a database it cannot use is a start-up error naming the variable (never its value). */
  static async open(url: string): Promise<PgStateStore> {
    const password = URL.canParse(url) ? decodeURIComponent(new URL(url).password) : undefined;
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 5000,
      query_timeout: 10_000,
      application_name: 'durable-runbooks-api',
    });
    // An idle connection that drops (database restarted) must not kill the API: the next query reconnects or answers 503.
    pool.on('error', () => undefined);
    const store = new PgStateStore(
      pool,
      [url, password].filter((s): s is string => !!s),
    );
    try {
      await store.transaction(async (c) => {
        // Two replicas starting together would race on CREATE TABLE IF NOT EXISTS (a duplicate pg_type row).
        await c.query(`select pg_advisory_xact_lock(hashtext('${STATE_TABLE}'))`);
        await c.query(schema);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      const why = err instanceof StateUnavailable ? err.detail : store.clean(err);
      throw new StateStoreError(
        `The API cannot use its state database (${VARIABLE}): ${why}. Check that PostgreSQL answers at the URL's host and port and that its user may connect and create the table ${STATE_TABLE}; unset ${VARIABLE} to keep sessions in the API's memory (one API process only).`,
      );
    }
    return store;
  }

  async put(kind: StateKind, id: string, entry: StateEntry, now: number, limits: PutLimits = {}): Promise<boolean> {
    return this.transaction(async (c) => {
      if (limits.perOwner !== undefined && entry.owner !== undefined) {
        // One writer per person at a time across replicas, so the cap holds exactly.
        await c.query(`select pg_advisory_xact_lock(hashtext('${STATE_TABLE}'), hashtext($1))`, [entry.owner]);
      }
      const inserted = await c.query(
        `insert into ${STATE_TABLE} (kind, key_sha256, owner, value, expires_at)
         select $1, $2, $3, $4::jsonb, $5
          where $6::int is null or (select count(*) from ${STATE_TABLE} where kind = $1 and expires_at > $7) < $6
         on conflict (kind, key_sha256) do update set owner = excluded.owner, value = excluded.value, expires_at = excluded.expires_at`,
        [
          kind,
          sha256(id),
          entry.owner ?? null,
          JSON.stringify(entry.value),
          new Date(entry.expiresAt),
          limits.atMost ?? null,
          new Date(now),
        ],
      );
      if (inserted.rowCount === 0) return false;
      if (limits.perOwner !== undefined && entry.owner !== undefined) {
        await c.query(
          `delete from ${STATE_TABLE} where kind = $1 and owner = $2 and key_sha256 in (
             select key_sha256 from ${STATE_TABLE} where kind = $1 and owner = $2 order by expires_at desc, seq desc offset $3)`,
          [kind, entry.owner, limits.perOwner],
        );
      }
      return true;
    });
  }

  async get(kind: StateKind, id: string, now: number): Promise<unknown> {
    const r = await this.query<{ value: unknown }>(
      `select value from ${STATE_TABLE} where kind = $1 and key_sha256 = $2 and expires_at > $3`,
      [kind, sha256(id), new Date(now)],
    );
    return r.rows[0]?.value;
  }

  async take(kind: StateKind, id: string, now: number): Promise<unknown> {
    // DELETE … RETURNING: of two replicas taking the same id, exactly one gets the row.
    const r = await this.query<{ value: unknown; live: boolean }>(
      `delete from ${STATE_TABLE} where kind = $1 and key_sha256 = $2 returning value, expires_at > $3 as live`,
      [kind, sha256(id), new Date(now)],
    );
    const row = r.rows[0];
    return row?.live ? row.value : undefined;
  }

  async delete(kind: StateKind, id: string): Promise<void> {
    await this.query(`delete from ${STATE_TABLE} where kind = $1 and key_sha256 = $2`, [kind, sha256(id)]);
  }

  async sweep(now: number): Promise<void> {
    await this.query(`delete from ${STATE_TABLE} where expires_at <= $1`, [new Date(now)]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async query<T extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<pg.QueryResult<T>> {
    try {
      return await this.pool.query<T>(text, params);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private async transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.unavailable(err);
    }
    let broken = false;
    try {
      await client.query('begin');
      const result = await work(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => (broken = true));
      throw err instanceof StateUnavailable ? err : this.unavailable(err);
    } finally {
      client.release(broken);
    }
  }

  private unavailable(err: unknown): StateUnavailable {
    const detail = this.clean(err);
    return new StateUnavailable(`The API's state database (${VARIABLE}) did not answer: ${detail}`, detail);
  }

  /** The driver's message without the URL or its password. */
  private clean(err: unknown): string {
    return redact(err instanceof Error ? err.message : String(err), this.secrets);
  }
}
