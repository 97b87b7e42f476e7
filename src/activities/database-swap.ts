import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { FailureType } from './errors.js';
import { beatOnce } from './heartbeat.js';
import { label, mustBeManaged } from './managed-databases.js';
import {
  adminSession,
  asAppRole,
  databaseExists,
  type DbContext,
  endSessions,
  ident,
  literal,
  liveDatabase,
  runId,
  setAllowConnections,
} from './pg-admin.js';

/**
 * A database of ours put under the live name by two renames in one transaction, with what makes
 * the live database the same database to its users (owner, grants, settings) recorded before and
 * put back after.
 */

/** What makes a database the same database to its users; a clone or restore has none of it. */
export interface DatabaseSettings {
  database: string;
  owner: string;
  /** `grantee:privilege[:grantable]` from aclexplode, sorted; null: the default ACL. */
  acl: string[] | null;
  /** `ALTER DATABASE … SET` values (`name=value`). */
  settings: string[];
  /** `ALTER ROLE r IN DATABASE … SET` values. */
  roleSettings: Array<{ role: string; settings: string[] }>;
  allowConnections: boolean;
  connectionLimit: number;
}

export interface SwapResult {
  live: string;
  /** Where the database that was live now lives (kept until the run ends). */
  keptAs: string;
  /** false: a retry found the swap already done. */
  swapped: boolean;
  reapplied: DatabaseSettings;
  /** A session as the app's role (or the ops role if the target names none) on the new live database, and what it sees. */
  proof: { role: string; database: string; readOnly: boolean; statementTimeout: string };
}

/** A setting value as ALTER DATABASE takes it back: list settings element by element. */
export function settingClause(entry: string): string {
  const eq = entry.indexOf('=');
  const name = entry.slice(0, eq);
  const value = entry.slice(eq + 1);
  const listLike = /^(search_path|temp_tablespaces|session_preload_libraries|local_preload_libraries)$/.test(name);
  const rendered = listLike
    ? value
        .split(',')
        .map((v) => literal(v.trim().replace(/^"(.*)"$/, '$1')))
        .join(', ')
    : literal(value);
  return `SET ${name} TO ${rendered}`;
}

async function settingsOf(c: pg.Client, database: string): Promise<DatabaseSettings> {
  const { rows } = await c.query<{ oid: number; owner: string; acl: string[] | null; allow: boolean; lim: number }>(
    `select d.oid, pg_get_userbyid(d.datdba) as owner, d.datallowconn as allow, d.datconnlimit as lim,
            case when d.datacl is null then null else
              (select array_agg(case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end
                                || ':' || a.privilege_type || case when a.is_grantable then ':grantable' else '' end)
                 from aclexplode(d.datacl) a) end as acl
       from pg_database d where d.datname = $1`,
    [database],
  );
  const d = rows[0];
  if (!d)
    throw ApplicationFailure.nonRetryable(
      `Database "${database}" does not exist on this server.`,
      FailureType.dbMissing,
    );
  const set = await c.query<{ role: string | null; setconfig: string[] }>(
    `select case when setrole = 0 then null else pg_get_userbyid(setrole) end as role, setconfig
       from pg_db_role_setting where setdatabase = $1 order by 1 nulls first`,
    [d.oid],
  );
  return {
    database,
    owner: d.owner,
    acl: d.acl ? [...d.acl].sort() : null,
    settings: [...(set.rows.find((r) => r.role === null)?.setconfig ?? [])].sort(),
    roleSettings: set.rows
      .filter((r) => r.role !== null)
      .map((r) => ({ role: r.role!, settings: [...r.setconfig].sort() })),
    allowConnections: d.allow,
    connectionLimit: d.lim,
  };
}

/** Puts owner, grants, settings and connection settings recorded from the old live database on `database`. */
async function reapply(c: pg.Client, database: string, s: DatabaseSettings): Promise<void> {
  const db = ident(database);
  await c.query(`alter database ${db} owner to ${ident(s.owner)}`);
  if (s.acl) {
    const current = (await settingsOf(c, database)).acl ?? [];
    for (const entry of current) {
      const [grantee, privilege] = entry.split(':');
      await c.query(`revoke ${privilege} on database ${db} from ${grantee === 'PUBLIC' ? 'public' : ident(grantee!)}`);
    }
    // A database's default ACL grants CONNECT and TEMP to PUBLIC; an explicit ACL lists what it keeps.
    await c.query(`revoke all on database ${db} from public`);
    for (const entry of s.acl) {
      const [grantee, privilege, grantable] = entry.split(':');
      await c.query(
        `grant ${privilege} on database ${db} to ${grantee === 'PUBLIC' ? 'public' : ident(grantee!)}${grantable ? ' with grant option' : ''}`,
      );
    }
  }
  await c.query(`alter database ${db} reset all`);
  for (const entry of s.settings) await c.query(`alter database ${db} ${settingClause(entry)}`);
  for (const r of s.roleSettings) {
    for (const entry of r.settings)
      await c.query(`alter role ${ident(r.role)} in database ${db} ${settingClause(entry)}`);
  }
  await c.query(
    `alter database ${db} with allow_connections ${s.allowConnections} connection limit ${s.connectionLimit}`,
  );
}

/** Owner, grants, settings and connection settings of the live database (or `database`). */
export async function pgDatabaseSettings(ctx: DbContext, target: string, database?: string): Promise<DatabaseSettings> {
  return adminSession(ctx, target, (c) => settingsOf(c, database ?? liveDatabase(ctx, target)), 30_000);
}

/**
 * The two renames in one transaction; false when an earlier attempt did them. On failure the
 * live database is open to connections again as it was.
 */
async function renameIntoPlace(
  ctx: DbContext,
  c: pg.Client,
  target: string,
  req: { replacement: string; keepAs: string; settings: DatabaseSettings },
): Promise<boolean> {
  const db = liveDatabase(ctx, target);
  const replacementThere = await databaseExists(c, req.replacement);
  const keptThere = await databaseExists(c, req.keepAs);
  if (!replacementThere && keptThere) {
    // Done by an earlier attempt, which may have died before opening the kept database again.
    await setAllowConnections(c, req.keepAs, true);
    return false;
  }
  if (!replacementThere)
    throw ApplicationFailure.nonRetryable(
      `Cannot swap: database "${req.replacement}" does not exist.`,
      FailureType.dbMissing,
    );
  if (keptThere)
    throw ApplicationFailure.nonRetryable(
      `Cannot swap: "${req.keepAs}" already exists; the live database would have nowhere to go.`,
      'SwapConflict',
    );
  const meta = await mustBeManaged(ctx, c, target, req.replacement);
  await setAllowConnections(c, db, false);
  try {
    await endSessions(c, db);
    await endSessions(c, req.replacement);
    await c.query('begin');
    await c.query(`alter database ${ident(db)} rename to ${ident(req.keepAs)}`);
    await c.query(`alter database ${ident(req.replacement)} rename to ${ident(db)}`);
    await label(c, req.keepAs, {
      durableRunbooks: 1,
      kind: 'replaced',
      target,
      live: db,
      run: runId(),
      createdAt: new Date().toISOString(),
      purpose: `was live until replaced by ${req.replacement}`,
      revision: null,
    });
    await c.query(
      `comment on database ${ident(db)} is ${literal(`live database of target ${target}; swapped in from ${req.replacement} (${meta.kind}) by run ${runId()}`)}`,
    );
    await c.query('commit');
    beatOnce({ phase: 'swapped', live: db, keptAs: req.keepAs });
    // The kept database stays readable for forensics; the app never connects to its new name.
    await setAllowConnections(c, req.keepAs, true);
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    await setAllowConnections(c, db, req.settings.allowConnections).catch(() => undefined);
    throw err;
  }
  return true;
}

/**
 * Puts `replacement` under the live name: both renames in one transaction, so the live name
 * always points at a whole database and a retry finds the swap done or not done. The old live
 * database is kept as `keepAs`; owner, grants, settings and connection settings recorded from
 * it (`settings`, taken before the run touched anything) are put on the new one, then proved
 * by a session as the app's role.
 */
export async function pgSwap(
  ctx: DbContext,
  target: string,
  req: { replacement: string; keepAs: string; settings: DatabaseSettings },
): Promise<SwapResult> {
  const db = liveDatabase(ctx, target);
  const swapped = await adminSession(ctx, target, (c) => renameIntoPlace(ctx, c, target, req));
  const reapplied = await adminSession(
    ctx,
    target,
    async (c) => {
      await reapply(c, db, req.settings);
      return settingsOf(c, db);
    },
    60_000,
  );
  const proof = await asAppRole(
    ctx,
    target,
    db,
    async (c) =>
      (
        await c.query<{ db: string; ro: string; st: string }>(
          `select current_database() as db, current_setting('default_transaction_read_only') as ro, current_setting('statement_timeout') as st`,
        )
      ).rows[0]!,
  );
  return {
    live: db,
    keptAs: req.keepAs,
    swapped,
    reapplied,
    proof: {
      role: proof.role,
      database: proof.value.db,
      readOnly: proof.value.ro === 'on',
      statementTimeout: proof.value.st,
    },
  };
}
