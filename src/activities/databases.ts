import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import type { TargetRegistry } from '../targets.js';
import { redact } from '../util/redact.js';
import { FailureType, targetFailure } from './errors.js';
import { beatOnce } from './heartbeat.js';
import { connectionOf, withPg } from './postgres.js';

/**
 * Whole databases on a target's server: freeze, snapshot (template clone), clone, swap by two
 * renames in one transaction, drop. Every database we create carries a JSON comment saying whose
 * it is (kind, target, run, revision), so the janitor and later runs find them without a store of
 * their own, and so nothing of ours is ever mistaken for the live database (or the other way round).
 */

/** The maintenance database admin statements run from (never the database they act on). */
const MAINTENANCE_DB = 'postgres';

export type ManagedKind = 'snapshot' | 'clone' | 'scratch' | 'fresh' | 'replaced';

export interface ManagedMeta {
  durableRunbooks: 1;
  kind: ManagedKind;
  target: string;
  /** The live database it was made from, or replaced. */
  live: string;
  /** The workflow id of the run that made it. */
  run: string;
  createdAt: string;
  /** snapshot: why it was taken ("pre-release", "undo-point"). */
  purpose?: string;
  /** The alembic revision(s) of the database when it was made. */
  revision?: string[] | null;
  /** scratch: when a restore into it began (a scratch without it has never been written to). */
  restoreStartedAt?: string;
}

export interface ManagedDatabase extends ManagedMeta {
  name: string;
  sizeBytes: number;
}

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

export interface FreezeResult {
  method: 'read-only';
  /** Sessions of the app (not ours) ended so that none keeps writing in a transaction begun before. */
  sessionsEnded: number;
  /** The proof: a write attempted as this role failed with this error. */
  proof: { role: string; asAppRole: boolean; error: string };
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

export const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (text: string) => pg.escapeLiteral(text);

/** Names we generate: lower-case, within PostgreSQL's 63-byte limit. */
export function managedName(prefix: string, live: string, suffix: string): string {
  const room = 63 - prefix.length - suffix.length - 2;
  return `${live.slice(0, Math.max(0, room))}_${prefix}_${suffix}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

export function parseManagedComment(comment: string | null): ManagedMeta | undefined {
  if (!comment?.startsWith('{')) return undefined;
  try {
    const meta = JSON.parse(comment) as Partial<ManagedMeta>;
    return meta.durableRunbooks === 1 && typeof meta.kind === 'string' ? (meta as ManagedMeta) : undefined;
  } catch {
    return undefined;
  }
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

export function createDatabaseActivities(targets: TargetRegistry) {
  const live = (target: string) => connectionOf(targets, target).database;
  const admin = <T>(target: string, fn: (c: pg.Client) => Promise<T>, statementTimeoutMs = 30 * 60_000) =>
    withPg(targets, target, fn, { database: MAINTENANCE_DB, statementTimeoutMs });
  const runId = () => {
    try {
      return Context.current().info.workflowExecution?.workflowId ?? 'outside-a-run';
    } catch {
      return 'outside-a-run'; // called directly (benchmarks)
    }
  };

  async function exists(c: pg.Client, name: string): Promise<boolean> {
    return (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  }

  async function metaOf(c: pg.Client, name: string): Promise<ManagedMeta | undefined> {
    const { rows } = await c.query<{ comment: string | null }>(
      `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
      [name],
    );
    return parseManagedComment(rows[0]?.comment ?? null);
  }

  /** Refuses to touch a database that is not ours, and never the live one. */
  async function mustBeManaged(c: pg.Client, target: string, name: string): Promise<ManagedMeta> {
    const meta = await metaOf(c, name);
    if (!meta || name === live(target)) {
      throw ApplicationFailure.nonRetryable(
        `Database "${name}" was not made by durable-runbooks for target "${target}"; refusing to drop or swap it.`,
        'NotManaged',
      );
    }
    return meta;
  }

  async function endSessions(c: pg.Client, database: string): Promise<number> {
    const { rows } = await c.query<{ n: string }>(
      `select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [database],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async function setAllowConnections(c: pg.Client, database: string, allow: boolean): Promise<void> {
    await c.query(`alter database ${ident(database)} allow_connections ${allow}`);
  }

  /** Creates `name` from `template` (which must have no sessions) and labels it. */
  async function copyDatabase(c: pg.Client, template: string, name: string, meta: ManagedMeta): Promise<void> {
    const { rows } = await c.query<{ num: string }>(`select current_setting('server_version_num') as num`);
    // FILE_COPY (PostgreSQL 15+) copies files instead of WAL-logging every block: seconds, not minutes.
    const strategy = Number(rows[0]!.num) >= 150000 ? ' strategy file_copy' : '';
    await c.query(`create database ${ident(name)} template ${ident(template)}${strategy}`);
    await c.query(`comment on database ${ident(name)} is ${literal(JSON.stringify(meta))}`);
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
        await c.query(
          `revoke ${privilege} on database ${db} from ${grantee === 'PUBLIC' ? 'public' : ident(grantee!)}`,
        );
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

  /** A session as the app's role when the target names one: what the application itself will see. */
  async function asAppRole<T>(
    target: string,
    database: string,
    fn: (c: pg.Client) => Promise<T>,
  ): Promise<{ role: string; asAppRole: boolean; value: T }> {
    const spec = targets.spec(target).postgres!;
    const conn = connectionOf(targets, target);
    const role = spec.appUser ?? conn.user;
    const password = spec.appUser
      ? spec.appPasswordEnv
        ? process.env[spec.appPasswordEnv]
        : undefined
      : conn.password;
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

  async function revisionOf(c: pg.Client): Promise<string[] | null> {
    const t = await c.query<{ t: string | null }>(`select to_regclass('alembic_version')::text as t`);
    if (!t.rows[0]?.t) return null;
    return (await c.query<{ v: string }>('select version_num as v from alembic_version order by 1')).rows.map(
      (r) => r.v,
    );
  }

  return {
    /** The privileges the database runbooks need of the ops role, each missing one named. */
    async pgAdminCheck(target: string): Promise<{ role: string; missing: string[]; serverMajor: number }> {
      return admin(
        target,
        async (c) => {
          const db = live(target);
          const { rows } = await c.query<{
            role: string;
            sup: boolean;
            createdb: boolean;
            owns: boolean | null;
            signal: boolean;
            num: string;
          }>(
            `select current_user as role, r.rolsuper as sup, r.rolcreatedb as createdb,
                  (select pg_has_role(current_user, d.datdba, 'MEMBER') from pg_database d where d.datname = $1) as owns,
                  pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') as signal,
                  current_setting('server_version_num') as num
             from pg_roles r where r.rolname = current_user`,
            [db],
          );
          const r = rows[0]!;
          if (r.owns === null)
            throw ApplicationFailure.nonRetryable(
              `Target "${target}": database "${db}" does not exist on ${connectionOf(targets, target).host}. Check postgres.database in ${targets.file}.`,
              FailureType.dbMissing,
            );
          const missing: string[] = [];
          if (!r.sup) {
            if (!r.createdb)
              missing.push(`CREATEDB (snapshots, clones and restores create databases): ALTER ROLE ${r.role} CREATEDB`);
            if (!r.owns)
              missing.push(
                `ownership of database "${db}" (freeze, block connections, rename): ALTER DATABASE ${db} OWNER TO ${r.role}, or grant ${r.role} membership in its owner`,
              );
            if (!r.signal)
              missing.push(
                `pg_signal_backend (end the app's sessions for the freeze and the snapshot): GRANT pg_signal_backend TO ${r.role}`,
              );
          }
          return { role: r.role, missing, serverMajor: Math.floor(Number(r.num) / 10000) };
        },
        30_000,
      );
    },

    async pgDatabaseSettings(target: string, database?: string): Promise<DatabaseSettings> {
      return admin(target, (c) => settingsOf(c, database ?? live(target)), 30_000);
    },

    /**
     * Freeze by read-only: new transactions of every new session are read-only; the app's open
     * sessions are ended so none keeps writing; then a write as the app's role must fail.
     */
    async pgFreezeReadOnly(target: string): Promise<FreezeResult> {
      const db = live(target);
      const sessionsEnded = await admin(
        target,
        async (c) => {
          await c.query(`alter database ${ident(db)} set default_transaction_read_only = on`);
          const { rows } = await c.query<{ n: string }>(
            `select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity
            where datname = $1 and pid <> pg_backend_pid() and application_name not like 'durable-runbooks%'`,
            [db],
          );
          return Number(rows[0]?.n ?? 0);
        },
        30_000,
      );
      const proof = await asAppRole(target, db, async (c) => {
        try {
          await c.query('create temp table durable_runbooks_freeze_probe (x int)');
          return undefined;
        } catch (err) {
          return err as { code?: string; message: string };
        }
      }).catch((err: unknown) => {
        throw ApplicationFailure.nonRetryable(
          `Could not connect as the app's role to prove the freeze: ${redact(String((err as Error).message))}. Check postgres.appUser/appPasswordEnv in ${targets.file}.`,
          'FreezeNotProved',
        );
      });
      if (proof.value?.code !== '25006') {
        throw ApplicationFailure.nonRetryable(
          `The freeze of "${db}" is not proved: a write as ${proof.role} ${proof.value ? `failed for another reason (${proof.value.message})` : 'succeeded'}. Writes are NOT stopped; check the role's settings (ALTER ROLE … SET default_transaction_read_only overrides the database's).`,
          'FreezeNotProved',
        );
      }
      return {
        method: 'read-only',
        sessionsEnded,
        proof: { role: proof.role, asAppRole: proof.asAppRole, error: proof.value.message },
      };
    },

    /** Lifts the read-only freeze; proved by a write as the app's role succeeding (a temp table, nothing kept). */
    async pgUnfreeze(target: string): Promise<{ writable: boolean; role: string }> {
      const db = live(target);
      await admin(target, (c) => c.query(`alter database ${ident(db)} reset default_transaction_read_only`), 30_000);
      const proof = await asAppRole(target, db, async (c) => {
        await c.query('create temp table durable_runbooks_freeze_probe (x int)');
        return true;
      });
      return { writable: proof.value, role: proof.role };
    },

    /**
     * A same-server snapshot of the live database (template clone). The live database must have
     * no session for those seconds: new connections are blocked and sessions ended, then allowed
     * again as they were. A retry finds the snapshot made and returns it.
     */
    async pgSnapshot(
      target: string,
      req: { name: string; purpose: string; allowConnectionsAfter: boolean },
    ): Promise<ManagedDatabase> {
      const db = live(target);
      return admin(target, async (c) => {
        if (!(await exists(c, req.name))) {
          const revision = await withPg(targets, target, revisionOf);
          await setAllowConnections(c, db, false);
          try {
            await endSessions(c, db);
            await copyDatabase(c, db, req.name, {
              durableRunbooks: 1,
              kind: 'snapshot',
              target,
              live: db,
              run: runId(),
              createdAt: new Date().toISOString(),
              purpose: req.purpose,
              revision,
            });
          } finally {
            await setAllowConnections(c, db, req.allowConnectionsAfter);
          }
        } else {
          // A worker killed mid-snapshot left the live database closed to connections: open it again.
          await setAllowConnections(c, db, req.allowConnectionsAfter);
        }
        return describe(c, target, req.name);
      });
    },

    /** A clone of one of our databases (a snapshot: never the live one, which has sessions). */
    async pgClone(
      target: string,
      req: { source: string; name: string; kind: 'clone' | 'scratch' },
    ): Promise<ManagedDatabase> {
      return admin(target, async (c) => {
        if (!(await exists(c, req.name))) {
          const source = await mustBeManaged(c, target, req.source);
          await endSessions(c, req.source);
          await copyDatabase(c, req.source, req.name, {
            ...source,
            kind: req.kind,
            run: runId(),
            createdAt: new Date().toISOString(),
            purpose: `copy of ${req.source}`,
          });
        }
        return describe(c, target, req.name);
      });
    },

    /** An empty database of ours (restores and fresh builds go there). */
    async pgCreateEmpty(
      target: string,
      req: { name: string; kind: 'scratch' | 'fresh'; purpose: string },
    ): Promise<{ name: string }> {
      return admin(
        target,
        async (c) => {
          if (!(await exists(c, req.name))) {
            await c.query(`create database ${ident(req.name)} template template0`);
            await c.query(
              `comment on database ${ident(req.name)} is ${literal(JSON.stringify({ durableRunbooks: 1, kind: req.kind, target, live: live(target), run: runId(), createdAt: new Date().toISOString(), purpose: req.purpose } satisfies ManagedMeta))}`,
            );
          }
          return { name: req.name };
        },
        60_000,
      );
    },

    /** Drops one of our databases; refuses anything else. Gone already: fine. */
    async pgDropManaged(target: string, name: string): Promise<{ dropped: boolean }> {
      return admin(target, async (c) => {
        if (!(await exists(c, name))) return { dropped: false };
        await mustBeManaged(c, target, name);
        await c.query(`drop database ${ident(name)} with (force)`);
        return { dropped: true };
      });
    },

    /** Our databases for this target, newest first (for the janitor and to find the pre-release snapshot). */
    async pgListManaged(target: string): Promise<ManagedDatabase[]> {
      return admin(
        target,
        async (c) => {
          const { rows } = await c.query<{ name: string; comment: string | null; size: string }>(
            `select datname as name, shobj_description(oid, 'pg_database') as comment, pg_database_size(oid)::text as size
             from pg_database where shobj_description(oid, 'pg_database') like '{%'`,
          );
          return rows
            .map((r) => ({ name: r.name, meta: parseManagedComment(r.comment), size: Number(r.size) }))
            .filter((r) => r.meta?.target === target)
            .map((r) => ({ ...r.meta!, name: r.name, sizeBytes: r.size }))
            .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        },
        30_000,
      );
    },

    /**
     * Puts `replacement` under the live name: both renames in one transaction, so the live name
     * always points at a whole database and a retry finds the swap done or not done. The old live
     * database is kept as `keepAs`; owner, grants, settings and connection settings recorded from
     * it (`settings`, taken before the run touched anything) are put on the new one, then proved
     * by a session as the app's role.
     */
    async pgSwap(
      target: string,
      req: { replacement: string; keepAs: string; settings: DatabaseSettings },
    ): Promise<SwapResult> {
      const db = live(target);
      const swapped = await admin(target, async (c) => {
        const replacementThere = await exists(c, req.replacement);
        const keptThere = await exists(c, req.keepAs);
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
        const meta = await mustBeManaged(c, target, req.replacement);
        await setAllowConnections(c, db, false);
        try {
          await endSessions(c, db);
          await endSessions(c, req.replacement);
          await c.query('begin');
          await c.query(`alter database ${ident(db)} rename to ${ident(req.keepAs)}`);
          await c.query(`alter database ${ident(req.replacement)} rename to ${ident(db)}`);
          await c.query(
            `comment on database ${ident(req.keepAs)} is ${literal(JSON.stringify({ durableRunbooks: 1, kind: 'replaced', target, live: db, run: runId(), createdAt: new Date().toISOString(), purpose: `was live until replaced by ${req.replacement}`, revision: null } satisfies ManagedMeta))}`,
          );
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
      });
      const reapplied = await admin(
        target,
        async (c) => {
          await reapply(c, db, req.settings);
          return settingsOf(c, db);
        },
        60_000,
      );
      const proof = await asAppRole(
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
    },
  };

  async function describe(c: pg.Client, target: string, name: string): Promise<ManagedDatabase> {
    const meta = await metaOf(c, name);
    if (!meta) return targetFailure(new Error(`Database "${name}" has lost its durable-runbooks label.`));
    const { rows } = await c.query<{ size: string }>('select pg_database_size($1)::text as size', [name]);
    return { ...meta, name, sizeBytes: Number(rows[0]!.size) };
  }
}
