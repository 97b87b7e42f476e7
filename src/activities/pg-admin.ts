import { Context } from '@temporalio/activity';
import pg from 'pg';
import type { ActivityContext } from './context.js';
import { connectionOf, withPg } from './postgres.js';

/**
 * What the whole-database activities share: a session on the maintenance database as the ops
 * role, one as the app's role, and the catalogue statements they all run.
 */

export type DbContext = Pick<ActivityContext, 'targets' | 'env'>;

/** The maintenance database admin statements run from (never the database they act on). */
const MAINTENANCE_DB = 'postgres';

export const ident = (name: string) => pg.escapeIdentifier(name);
export const literal = (text: string) => pg.escapeLiteral(text);

/** The target's live database (the one its app uses). */
export function liveDatabase(ctx: DbContext, target: string): string {
  return connectionOf(ctx.targets, target).database;
}

/** A session on the maintenance database as the ops role. */
export function adminSession<T>(
  ctx: DbContext,
  target: string,
  fn: (c: pg.Client) => Promise<T>,
  statementTimeoutMs = 30 * 60_000,
): Promise<T> {
  return withPg(ctx.targets, target, fn, { database: MAINTENANCE_DB, statementTimeoutMs });
}

/** The workflow id of the run calling, recorded in the labels of the databases it makes. */
export function runId(): string {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? 'outside-a-run';
  } catch {
    return 'outside-a-run'; // called directly (benchmarks)
  }
}

export async function databaseExists(c: pg.Client, name: string): Promise<boolean> {
  return (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
}

export async function endSessions(c: pg.Client, database: string): Promise<number> {
  const { rows } = await c.query<{ n: string }>(
    `select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
    [database],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function setAllowConnections(c: pg.Client, database: string, allow: boolean): Promise<void> {
  await c.query(`alter database ${ident(database)} allow_connections ${allow}`);
}

export async function revisionOf(c: pg.Client): Promise<string[] | null> {
  const t = await c.query<{ t: string | null }>(`select to_regclass('alembic_version')::text as t`);
  if (!t.rows[0]?.t) return null;
  return (await c.query<{ v: string }>('select version_num as v from alembic_version order by 1')).rows.map((r) => r.v);
}

/** A session as the app's role when the target names one: what the application itself will see. */
export async function asAppRole<T>(
  ctx: DbContext,
  target: string,
  database: string,
  fn: (c: pg.Client) => Promise<T>,
): Promise<{ role: string; asAppRole: boolean; value: T }> {
  const spec = ctx.targets.spec(target).postgres!;
  const conn = connectionOf(ctx.targets, target);
  const role = spec.appUser ?? conn.user;
  const password = spec.appUser ? (spec.appPasswordEnv ? ctx.env[spec.appPasswordEnv] : undefined) : conn.password;
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    database,
    user: role,
    password,
    application_name: 'durable-runbooks-proof',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { role, asAppRole: spec.appUser !== undefined, value: await fn(client) };
  } finally {
    await client.end().catch(() => undefined);
  }
}
