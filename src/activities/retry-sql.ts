import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import type { PgConnection, TargetRegistry } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { redact } from '../util/redact.js';
import { RETRY_SQL_LIMITS, retrySqlRefusal } from '../util/sql-statement.js';
import { targetFailure } from './errors.js';
import { withPg } from './postgres.js';

/**
 * schema-drift's retry of the statement that was failing (input retrySql), confined so that it
 * proves the repair and does nothing else:
 * - one statement, and not transaction control: PostgreSQL's own parser decides, through the
 *   extended query protocol (a Parse message refuses several commands, whatever the strings,
 *   dollar quotes and comments hold); the simple protocol would run `select 1; commit; insert …`;
 * - only as the app's role (postgres.appUser), never the ops role, after the same session proves
 *   that role is no superuser and holds none of the roles that reach outside a transaction;
 * - inside a transaction that is always rolled back, under statement and lock timeouts; a
 *   statement that outlives them (a PL/pgSQL handler can catch the statement timeout) has its
 *   session ended from outside.
 */

export const RetrySqlRefused = 'RetrySqlRefused';

/** Members of these reach past a rolled-back transaction: server programs and files, other roles' sessions. */
const REACHING_ROLES = [
  'pg_execute_server_program',
  'pg_write_server_files',
  'pg_read_server_files',
  'pg_signal_backend',
];

/** After the statement timeout, how long the statement may still run before its session is ended. */
const GRACE_MS = 5_000;

export interface RetrySqlLimits {
  statementTimeout: string;
  lockTimeout: string;
}

export interface RetrySqlResult {
  ok: boolean;
  role: string;
  rowCount?: number | null;
  error?: string;
  rolledBack: true;
}

const refused = (message: string) => ApplicationFailure.nonRetryable(message, RetrySqlRefused);

export function createRetrySqlActivities(targets: TargetRegistry) {
  function appConnection(target: string): PgConnection {
    let conn: PgConnection | undefined;
    try {
      conn = targets.appPostgres(target);
    } catch (err) {
      return targetFailure(err);
    }
    if (!conn) {
      throw refused(
        `Target "${target}" names no app role (postgres.appUser in ${targets.file}), and retrySql runs only as the app's own non-superuser role, never as the ops role: declare postgres.appUser (and appPasswordEnv if it needs a password), or retry with retryHttp instead.`,
      );
    }
    return conn;
  }

  /**
   * A session as the app's role, in a transaction that is always rolled back, whose role is proved
   * (in that session) to be no superuser and no member of the roles that reach outside it.
   */
  async function confined<T>(
    target: string,
    limits: RetrySqlLimits,
    fn: (c: pg.Client, pid: number) => Promise<T>,
  ): Promise<{ role: string; value: T }> {
    const conn = appConnection(target);
    const client = new pg.Client({
      ...conn,
      application_name: 'durable-runbooks-retry',
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      throw ApplicationFailure.retryable(
        `Could not connect to "${conn.database}" as the app's role ${conn.user}: ${redact((err as Error).message, [conn.password])}. Check postgres.appUser and appPasswordEnv of target "${target}" in ${targets.file}.`,
        'AppRoleUnreachable',
      );
    }
    try {
      await client.query('begin');
      await client.query(
        `select set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true), set_config('idle_in_transaction_session_timeout', $3, true)`,
        [limits.statementTimeout, limits.lockTimeout, '1min'],
      );
      const { rows } = await client.query<{ role: string; pid: number; supers: string[]; reaching: string[] }>(
        `select current_user as role, pg_backend_pid() as pid,
                array(select s.rolname::text from pg_roles s where s.rolsuper and pg_has_role(current_user, s.oid, 'MEMBER') order by 1) as supers,
                array(select r.rolname::text from pg_roles r where r.rolname = any($1) and pg_has_role(current_user, r.oid, 'MEMBER') order by 1) as reaching`,
        [REACHING_ROLES],
      );
      const r = rows[0]!;
      const where = `(postgres.appUser of target "${target}")`;
      if (r.supers.includes(r.role)) {
        throw refused(
          `Role "${r.role}" ${where} is a superuser, and retrySql runs only as a non-superuser role: declare the app's own non-superuser role as postgres.appUser in ${targets.file}.`,
        );
      }
      if (r.supers.length) {
        throw refused(
          `Role "${r.role}" ${where} is a member of the superuser role ${r.supers.join(', ')}, and retrySql runs only as a role that cannot become a superuser: declare a role without that membership as postgres.appUser in ${targets.file}.`,
        );
      }
      if (r.reaching.length) {
        throw refused(
          `Role "${r.role}" ${where} is a member of ${r.reaching.join(', ')}, which reach outside a rolled-back transaction (server programs and files, other roles' sessions): revoke them from ${r.role}, or declare a role without them as postgres.appUser in ${targets.file}.`,
        );
      }
      return { role: r.role, value: await fn(client, r.pid) };
    } finally {
      await client.query('rollback').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  /** Ends session `pid` from the ops role's side unless cancelled within `ms`. */
  function watchdog(target: string, pid: number, ms: number) {
    let fired = false;
    const timer = setTimeout(() => {
      fired = true;
      withPg(targets, target, (c) => c.query('select pg_terminate_backend($1)', [pid]), {
        database: 'postgres',
        statementTimeoutMs: 10_000,
      }).catch(() => undefined);
    }, ms);
    return { fired: () => fired, cancel: () => clearTimeout(timer) };
  }

  function refuseShape(statement: string): void {
    const why = retrySqlRefusal(statement);
    if (why) throw refused(why);
  }

  return {
    /** Before any change: whether retrySql can be retried as given on this target, and as which role. */
    async pgRetryCheck(target: string, statement: string): Promise<{ role: string; limits: RetrySqlLimits }> {
      refuseShape(statement);
      const r = await confined(target, RETRY_SQL_LIMITS, async () => undefined);
      return { role: r.role, limits: RETRY_SQL_LIMITS };
    },

    /**
     * Retries the operation that was failing, confined as above: proof that the repair works,
     * with no side effect of its own (sequences aside: nextval is never rolled back).
     */
    async pgRetryAsApp(target: string, statement: string, opts: Partial<RetrySqlLimits> = {}): Promise<RetrySqlResult> {
      refuseShape(statement);
      const limits = { ...RETRY_SQL_LIMITS, ...opts };
      const r = await confined(target, limits, async (c, pid) => {
        const guard = watchdog(target, pid, parseDuration(limits.statementTimeout) + GRACE_MS);
        try {
          // queryMode 'extended': parsed as one prepared statement, so PostgreSQL refuses several.
          const query: pg.QueryConfig & { queryMode: 'extended' } = { text: statement, queryMode: 'extended' };
          const res = await c.query(query);
          return { ok: true, rowCount: res.rowCount };
        } catch (err) {
          const e = err as { code?: string; message: string };
          if (e.code === '42601' && /multiple commands/.test(e.message)) {
            throw refused(
              'PostgreSQL parsed several statements in retrySql (none was run): give exactly the one statement that was failing.',
            );
          }
          const error = guard.fired()
            ? `it ran past its ${limits.statementTimeout} statement_timeout and its session was ended (${redact(e.message)})`
            : redact(e.message);
          return { ok: false, error };
        } finally {
          guard.cancel();
        }
      });
      return { ...r.value, role: r.role, rolledBack: true };
    },
  };
}
