import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import type { PgConnection, TargetRegistry } from '../targets.js';
import { pgFailure, targetFailure } from './errors.js';

/** Read-only PostgreSQL checks on a target, as its ops role. */

export interface PgPing {
  latencyMs: number;
  serverVersion: string;
  serverMajor: number;
  database: string;
  user: string;
  inRecovery: boolean;
}

export interface PgConnections {
  inUse: number;
  max: number;
  reservedForSuperuser: number;
  percent: number;
  byState: Record<string, number>;
  byDatabase: Record<string, number>;
}

export interface PgAppliedRevision {
  /** null: the database has no alembic_version table (never migrated by alembic). */
  revisions: string[] | null;
}

export interface PgLongTransaction {
  pid: number;
  user: string | null;
  application: string | null;
  state: string | null;
  ageSeconds: number;
  query: string;
}

export interface PgBlockingLock {
  blockedPid: number;
  blockedQuery: string;
  blockedSeconds: number;
  blockingPid: number;
  blockingQuery: string;
  blockingState: string | null;
}

export function connectionOf(targets: TargetRegistry, target: string): PgConnection {
  try {
    return targets.postgres(target);
  } catch (err) {
    return targetFailure(err);
  }
}

export interface PgSessionOptions {
  /** Another database on the target's server (default: the target's own). */
  database?: string;
  /** Long statements (CREATE DATABASE … TEMPLATE on a big database); default 30 s. */
  statementTimeoutMs?: number;
}

/** What every session of ours sets: writable even while the database is frozen read-only. */
export const OWN_SESSION_OPTIONS = '-c default_transaction_read_only=off';

/**
 * Opens a client on the target, runs `fn`, closes it; errors name host and port, never the
 * password. Our sessions stay writable through a read-only freeze (the runbook repairs through it).
 */
export async function withPg<T>(
  targets: TargetRegistry,
  target: string,
  fn: (client: pg.Client) => Promise<T>,
  opts: PgSessionOptions = {},
): Promise<T> {
  const conn = connectionOf(targets, target);
  const db = opts.database ?? conn.database;
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    database: db,
    user: conn.user,
    password: conn.password,
    application_name: 'durable-runbooks',
    connectionTimeoutMillis: 5_000,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    options: OWN_SESSION_OPTIONS,
  });
  // An error event after connect (server restart) must not crash the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err; // raised by fn, already saying what to do
    throw pgFailure(err, { target, host: conn.host, port: conn.port, database: db }, [conn.password]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function createPostgresActivities(targets: TargetRegistry) {
  return {
    async pgPing(target: string): Promise<PgPing> {
      return withPg(targets, target, async (c) => {
        const started = process.hrtime.bigint();
        await c.query('select 1');
        const latencyMs = Number(process.hrtime.bigint() - started) / 1e6;
        const { rows } = await c.query<{ version: string; num: string; db: string; usr: string; rec: boolean }>(
          `select current_setting('server_version') as version, current_setting('server_version_num') as num,
                  current_database() as db, current_user as usr, pg_is_in_recovery() as rec`,
        );
        const r = rows[0]!;
        return {
          latencyMs: Math.round(latencyMs * 100) / 100,
          serverVersion: r.version,
          serverMajor: Math.floor(Number(r.num) / 10000),
          database: r.db,
          user: r.usr,
          inRecovery: r.rec,
        };
      });
    },

    async pgConnections(target: string): Promise<PgConnections> {
      return withPg(targets, target, async (c) => {
        const settings = await c.query<{ max: string; reserved: string }>(
          `select current_setting('max_connections') as max, current_setting('superuser_reserved_connections') as reserved`,
        );
        const { rows } = await c.query<{ state: string | null; datname: string | null; n: string }>(
          `select state, datname, count(*) as n from pg_stat_activity where backend_type = 'client backend' group by 1, 2`,
        );
        const byState: Record<string, number> = {};
        const byDatabase: Record<string, number> = {};
        let inUse = 0;
        for (const r of rows) {
          const n = Number(r.n);
          inUse += n;
          byState[r.state ?? 'unknown'] = (byState[r.state ?? 'unknown'] ?? 0) + n;
          byDatabase[r.datname ?? '(none)'] = (byDatabase[r.datname ?? '(none)'] ?? 0) + n;
        }
        const max = Number(settings.rows[0]!.max);
        return {
          inUse,
          max,
          reservedForSuperuser: Number(settings.rows[0]!.reserved),
          percent: Math.round((inUse / max) * 1000) / 10,
          byState,
          byDatabase,
        };
      });
    },

    async pgAppliedRevision(target: string): Promise<PgAppliedRevision> {
      return withPg(targets, target, async (c) => {
        const exists = await c.query<{ t: string | null }>(`select to_regclass('alembic_version')::text as t`);
        if (!exists.rows[0]?.t) return { revisions: null };
        const { rows } = await c.query<{ version_num: string }>('select version_num from alembic_version order by 1');
        return { revisions: rows.map((r) => r.version_num) };
      });
    },

    async pgLongTransactions(target: string, olderThanSeconds: number): Promise<PgLongTransaction[]> {
      return withPg(targets, target, async (c) => {
        const { rows } = await c.query<PgLongTransaction>(
          `select pid, usename as "user", application_name as application, state,
                  floor(extract(epoch from now() - xact_start))::int as "ageSeconds", left(query, 200) as query
             from pg_stat_activity
            where xact_start is not null and pid <> pg_backend_pid()
              and now() - xact_start > make_interval(secs => $1)
            order by xact_start limit 20`,
          [olderThanSeconds],
        );
        return rows;
      });
    },

    async pgBlockingLocks(target: string): Promise<PgBlockingLock[]> {
      return withPg(targets, target, async (c) => {
        const { rows } = await c.query<PgBlockingLock>(
          `select blocked.pid as "blockedPid", left(blocked.query, 200) as "blockedQuery",
                  floor(extract(epoch from now() - blocked.query_start))::int as "blockedSeconds",
                  blocking.pid as "blockingPid", left(blocking.query, 200) as "blockingQuery", blocking.state as "blockingState"
             from pg_stat_activity blocked
             cross join lateral unnest(pg_blocking_pids(blocked.pid)) as b(pid)
             join pg_stat_activity blocking on blocking.pid = b.pid
            order by blocked.query_start limit 20`,
        );
        return rows;
      });
    },
  };
}
