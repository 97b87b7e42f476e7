import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { targetFailure } from './errors.js';
import {
  adminSession,
  databaseExists,
  type DbContext,
  endSessions,
  ident,
  literal,
  liveDatabase,
  revisionOf,
  runId,
  setAllowConnections,
} from './pg-admin.js';
import { withPg } from './postgres.js';

/**
 * Databases of ours on a target's server: snapshots (template clones of the live database),
 * clones, empty scratch and fresh databases, listed and dropped. Every one carries a JSON comment
 * saying whose it is (kind, target, run, revision), so the janitor and later runs find them without
 * a store of their own, and so nothing of ours is ever mistaken for the live database (or the other
 * way round).
 */

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

async function metaOf(c: pg.Client, name: string): Promise<ManagedMeta | undefined> {
  const { rows } = await c.query<{ comment: string | null }>(
    `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
    [name],
  );
  return parseManagedComment(rows[0]?.comment ?? null);
}

/** Refuses to touch a database that is not ours, and never the live one. */
export async function mustBeManaged(ctx: DbContext, c: pg.Client, target: string, name: string): Promise<ManagedMeta> {
  const meta = await metaOf(c, name);
  if (!meta || name === liveDatabase(ctx, target)) {
    throw ApplicationFailure.nonRetryable(
      `Database "${name}" was not made by durable-runbooks for target "${target}"; refusing to drop or swap it.`,
      'NotManaged',
    );
  }
  return meta;
}

/** Labels `name` as ours. */
export async function label(c: pg.Client, name: string, meta: ManagedMeta): Promise<void> {
  await c.query(`comment on database ${ident(name)} is ${literal(JSON.stringify(meta))}`);
}

/** Creates `name` from `template` (which must have no sessions) and labels it. */
async function copyDatabase(c: pg.Client, template: string, name: string, meta: ManagedMeta): Promise<void> {
  const { rows } = await c.query<{ num: string }>(`select current_setting('server_version_num') as num`);
  // FILE_COPY (PostgreSQL 15+) copies files instead of WAL-logging every block: seconds, not minutes.
  const strategy = Number(rows[0]!.num) >= 150000 ? ' strategy file_copy' : '';
  await c.query(`create database ${ident(name)} template ${ident(template)}${strategy}`);
  await label(c, name, meta);
}

async function describe(c: pg.Client, name: string): Promise<ManagedDatabase> {
  const meta = await metaOf(c, name);
  if (!meta) return targetFailure(new Error(`Database "${name}" has lost its durable-runbooks label.`));
  const { rows } = await c.query<{ size: string }>('select pg_database_size($1)::text as size', [name]);
  return { ...meta, name, sizeBytes: Number(rows[0]!.size) };
}

/**
 * A same-server snapshot of the live database (template clone). The live database must have
 * no session for those seconds: new connections are blocked and sessions ended, then allowed
 * again as they were. A retry finds the snapshot made and returns it.
 */
export async function pgSnapshot(
  ctx: DbContext,
  target: string,
  req: { name: string; purpose: string; allowConnectionsAfter: boolean },
): Promise<ManagedDatabase> {
  const db = liveDatabase(ctx, target);
  return adminSession(ctx, target, async (c) => {
    if (!(await databaseExists(c, req.name))) {
      const revision = await withPg(ctx.targets, target, revisionOf);
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
    return describe(c, req.name);
  });
}

/** A clone of one of our databases (a snapshot: never the live one, which has sessions). */
export async function pgClone(
  ctx: DbContext,
  target: string,
  req: { source: string; name: string; kind: 'clone' | 'scratch' },
): Promise<ManagedDatabase> {
  return adminSession(ctx, target, async (c) => {
    if (!(await databaseExists(c, req.name))) {
      const source = await mustBeManaged(ctx, c, target, req.source);
      await endSessions(c, req.source);
      await copyDatabase(c, req.source, req.name, {
        ...source,
        kind: req.kind,
        run: runId(),
        createdAt: new Date().toISOString(),
        purpose: `copy of ${req.source}`,
      });
    }
    return describe(c, req.name);
  });
}

/** An empty database of ours (restores and fresh builds go there). */
export async function pgCreateEmpty(
  ctx: DbContext,
  target: string,
  req: { name: string; kind: 'scratch' | 'fresh'; purpose: string },
): Promise<{ name: string }> {
  return adminSession(
    ctx,
    target,
    async (c) => {
      if (!(await databaseExists(c, req.name))) {
        await c.query(`create database ${ident(req.name)} template template0`);
        await label(c, req.name, {
          durableRunbooks: 1,
          kind: req.kind,
          target,
          live: liveDatabase(ctx, target),
          run: runId(),
          createdAt: new Date().toISOString(),
          purpose: req.purpose,
        });
      }
      return { name: req.name };
    },
    60_000,
  );
}

/** Drops one of our databases; refuses anything else. Gone already: fine. */
export async function pgDropManaged(ctx: DbContext, target: string, name: string): Promise<{ dropped: boolean }> {
  return adminSession(ctx, target, async (c) => {
    if (!(await databaseExists(c, name))) return { dropped: false };
    await mustBeManaged(ctx, c, target, name);
    await c.query(`drop database ${ident(name)} with (force)`);
    return { dropped: true };
  });
}

/** Our databases for this target, newest first (for the janitor and to find the pre-release snapshot). */
export async function pgListManaged(ctx: DbContext, target: string): Promise<ManagedDatabase[]> {
  return adminSession(
    ctx,
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
}
