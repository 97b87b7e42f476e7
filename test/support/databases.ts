import { existsSync } from 'node:fs';
import pg from 'pg';
import { alembic, createDatabase, PG, sql, tmpDir } from './harness.js';

/** Databases shaped like a production one: an app role, its own grants and settings. */

export const APP_ROLE = 'gestiq_app';

export async function ensureAppRole(): Promise<void> {
  // Two test files may race to create it: the duplicate's error is the answer we want.
  await sql('postgres', `create role ${APP_ROLE} login`).catch((err: { code?: string }) => {
    if (err.code !== '42710' && err.code !== '23505') throw err;
  });
}

/** A fixture database at `revision`, reachable by the app role only (PUBLIC may not connect), with a setting of its own. */
export async function appDatabase(revision: string, prefix = 'rbdb'): Promise<string> {
  await ensureAppRole();
  const db = await createDatabase(prefix);
  await alembic(db, ['upgrade', revision]);
  await sql('postgres', `revoke all on database ${db} from public`);
  await sql('postgres', `grant connect, temporary on database ${db} to ${APP_ROLE}`);
  await sql('postgres', `alter database ${db} set statement_timeout = '7s'`);
  await sql(db, `grant select, insert, update, delete on all tables in schema public to ${APP_ROLE}`);
  await sql(db, `grant usage on all sequences in schema public to ${APP_ROLE}`);
  return db;
}

/** A target on `db` with the app role declared, backups in a temp dir, unsigned decisions allowed (tests decide without the API). */
export function dbTarget(db: string, extra: Record<string, unknown> = {}) {
  return {
    postgres: { ...PG, database: db, appUser: APP_ROLE },
    alembic: { dir: new URL('../fixtures/gestiq-lite', import.meta.url).pathname },
    backups: { dir: tmpDir('runbooks-backups-'), retention: '1d' },
    policy: { unsignedDecisions: 'allow' },
    smoke: [{ name: 'tenants readable', sql: 'select count(*) from tenants', expect: '>= 1' }],
    ...extra,
  };
}

/** Runs one statement as the app would: the app role, a fresh session, the database's own defaults. */
export async function asApp(
  db: string,
  text: string,
): Promise<{ ok: true; rows: unknown[] } | { ok: false; code?: string; message: string }> {
  const client = new pg.Client({ ...PG, user: APP_ROLE, database: db });
  try {
    await client.connect();
    return { ok: true, rows: (await client.query(text)).rows };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code, message: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function revisionOf(db: string): Promise<string[]> {
  return (await sql<{ v: string }>(db, 'select version_num as v from alembic_version')).map((r) => r.v);
}

export async function databaseSettings(db: string) {
  const [row] = await sql<{ acl: string; settings: string[] | null; owner: string }>(
    'postgres',
    `select d.datacl::text as acl, pg_get_userbyid(d.datdba) as owner,
            (select setconfig from pg_db_role_setting s where s.setdatabase = d.oid and s.setrole = 0) as settings
       from pg_database d where datname = $1`,
    [db],
  );
  return row;
}

/** Every database of ours made for `live` (snapshots, clones, kept ones), by label. */
export async function managedFor(live: string) {
  return sql<{
    name: string;
    allowConnections: boolean;
    meta: { kind: string; purpose?: string; revision?: string[] };
  }>(
    'postgres',
    `select datname as name, datallowconn as "allowConnections", shobj_description(oid, 'pg_database')::json as meta from pg_database
      where shobj_description(oid, 'pg_database') like '{%' and shobj_description(oid, 'pg_database')::json->>'live' = $1`,
    [live],
  );
}

export async function dropAllFor(live: string): Promise<void> {
  for (const d of await managedFor(live)) await sql('postgres', `drop database if exists ${d.name} with (force)`);
  await sql('postgres', `drop database if exists ${live} with (force)`);
}

export const exists = existsSync;
