import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  type BackupContext,
  type BackupFile,
  type BackupManifest,
  backupsDir,
  dirBytes,
  hashAll,
  MANIFEST,
} from './backup-files.js';
import { verify } from './backup-verify.js';
import { countRows, pgRevisionIn, tablesByOid } from './database-contents.js';
import { withHeartbeats } from './heartbeat.js';
import { pgTool } from './pg-tool.js';
import { connectionOf, withPg } from './postgres.js';

/**
 * A portable dump of a target's database by pg_dump (directory format), with a manifest of ours:
 * size and sha256 of every file, exact row counts, server version, revision.
 */

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The data file of each table in a directory dump, from `pg_restore --list`: dump id, table oid. */
export function tableDataEntries(list: string): Array<{ dumpId: string; oid: string }> {
  return [...list.matchAll(/^(\d+); \d+ (\d+) TABLE DATA /gm)].map((m) => ({ dumpId: m[1]!, oid: m[2]! }));
}

/** A dump is rarely larger than the database: demand that much free on the dump's disk, plus 10%. */
async function checkSpace(ctx: BackupContext, root: string, database: string, databaseBytes: number) {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const fs = await statfs(root);
  const free = fs.bavail * fs.bsize;
  const needed = Math.ceil(databaseBytes * 1.1);
  if (free < needed) {
    throw ApplicationFailure.nonRetryable(
      `Not enough disk for the backup of "${database}": ${root} has ${mb(free)} free, the dump may need ${mb(needed)} (database ${mb(databaseBytes)}). Free space there or set backups.dir in ${ctx.targets.file}. Nothing was changed.`,
      'NotEnoughDisk',
    );
  }
  return { dir: root, freeBytes: free, neededBytes: needed, databaseBytes };
}

/**
 * Free disk for the dump, checked before anything is changed (on the dump's own disk; the
 * database server's disk is unknown to a worker that does not run there, and a snapshot needs
 * about the database's size there too).
 */
export async function pgBackupSpace(
  ctx: BackupContext,
  target: string,
): Promise<{ dir: string; freeBytes: number; neededBytes: number; databaseBytes: number; serverDisk: 'unknown' }> {
  const database = connectionOf(ctx.targets, target).database;
  const size = await withPg(ctx.targets, target, async (c) =>
    Number((await c.query<{ s: string }>('select pg_database_size(current_database())::text as s')).rows[0]!.s),
  );
  return { ...(await checkSpace(ctx, backupsDir(ctx, target), database, size)), serverDisk: 'unknown' };
}

/**
 * Each attempt dumps into its own partial directory, renamed into place once complete: a pg_dump
 * orphaned by a killed worker can only ever write into an abandoned partial one. Removes the
 * earlier attempts' partial directories and an incomplete dump in place.
 */
async function freshPartial(root: string, name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (const stale of (await readdir(root)).filter((f) => f.startsWith(`${name}.partial-`)))
    await rm(path.join(root, stale), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  return `${dir}.partial-${process.pid}-${Date.now()}`;
}

/**
 * Rows of each table in the dump, counted in its data files (pg_dump's own snapshot); those whose
 * data files are not in a format we count are counted in the database.
 */
async function dumpedRows(
  ctx: BackupContext,
  target: string,
  database: string,
  entries: Array<{ dumpId: string; oid: string }>,
  rowsOf: (dumpId: string) => number | null | undefined,
): Promise<{ tables: Record<string, number>; uncounted: string[] }> {
  const byOid = await withPg(ctx.targets, target, tablesByOid, { database });
  const tables: Record<string, number> = {};
  const uncounted: Array<{ table: string; partitioned: boolean }> = [];
  for (const e of entries) {
    const t = byOid.get(e.oid);
    if (!t)
      throw ApplicationFailure.retryable(
        `A table in the dump of "${database}" (oid ${e.oid}) is no longer in the database: its schema changed while it was dumped. Dumping again.`,
        'SchemaChanged',
      );
    const rows = rowsOf(e.dumpId);
    if (rows === undefined || rows === null) uncounted.push(t);
    else tables[t.table] = rows;
  }
  if (uncounted.length) Object.assign(tables, await countRows(ctx, target, database, uncounted));
  return { tables, uncounted: uncounted.map((t) => t.table) };
}

/**
 * A portable dump: pg_dump directory format with parallel jobs, then a manifest (size and
 * sha256 of every file, exact row counts, server version, revision), files 0600, verified with
 * pg_restore --list. The free disk is checked first. A retry finds a complete dump and keeps it.
 */
export async function pgDumpBackup(
  ctx: BackupContext,
  target: string,
  req: { name: string; jobs?: number; database?: string; compress?: number },
): Promise<BackupManifest & { manifestSha256: string; checks: string[]; pgDumpMs?: number }> {
  const conn = connectionOf(ctx.targets, target);
  const database = req.database ?? conn.database;
  const root = backupsDir(ctx, target);
  const dir = path.join(root, req.name);
  if (existsSync(path.join(dir, MANIFEST))) {
    const done = await verify(ctx, target, dir).catch(() => undefined);
    if (done?.manifest) return { ...done.manifest, manifestSha256: done.sha256, checks: done.checks };
  }
  const partial = await freshPartial(root, req.name);
  const sizes = await withPg(
    ctx.targets,
    target,
    async (c) => {
      const r = await c.query<{ size: string; version: string }>(
        `select pg_database_size(current_database())::text as size, current_setting('server_version') as version`,
      );
      return { size: Number(r.rows[0]!.size), version: r.rows[0]!.version };
    },
    { database },
  );
  await checkSpace(ctx, root, database, sizes.size);
  const revision = await pgRevisionIn(ctx, target, database);
  const jobs = req.jobs ?? 2;
  // Made here, private from the start (pg_dump takes an empty directory): its files are never
  // readable by others while it writes, and a worker killed as pg_dump starts leaves it for the
  // next attempt to remove, whether or not pg_dump got as far as writing.
  await mkdir(partial, { mode: 0o700 });
  const started = Date.now();
  await withHeartbeats(
    // Uncompressed by default: on a 2-core worker, gzip doubled the dump's time (bench/RESULTS.md).
    pgTool(conn, database, 'pg_dump', [
      '--format=directory',
      `--jobs=${jobs}`,
      `--compress=${req.compress ?? ctx.targets.spec(target).backups?.compress ?? 0}`,
      `--file=${partial}`,
    ]),
    async () => ({ phase: 'pg_dump', bytesWritten: await dirBytes(partial), databaseBytes: sizes.size }),
    { firstSign: (p) => typeof p.bytesWritten === 'number' && p.bytesWritten > 0, atStart: true },
  );
  // pg_dump's own time, apart from what the runbook adds around it (bench/RESULTS.md compares them).
  const pgDumpMs = Date.now() - started;
  // pg_restore reads the dump, and its table of contents names each table's data file.
  const list = await pgTool(conn, conn.database, 'pg_restore', ['--list', partial]).catch((err: unknown) => {
    throw ApplicationFailure.nonRetryable(
      `The dump just written in ${partial} cannot be read by pg_restore: ${(err as Error).message}`,
      'BackupCorrupt',
    );
  });
  const entries = tableDataEntries(list.stdout);
  const names = (await readdir(partial)).sort();
  const dataFiles = new Map(
    entries.map((e) => [e.dumpId, names.find((n) => n === `${e.dumpId}.dat` || n === `${e.dumpId}.dat.gz`)]),
  );
  const files = await hashAll(partial, names, new Set([...dataFiles.values()].filter((n) => n !== undefined)));
  await chmod(partial, 0o700);
  const { tables, uncounted } = await dumpedRows(
    ctx,
    target,
    database,
    entries,
    (dumpId) => files.find((f) => f.file === dataFiles.get(dumpId))?.rows,
  );
  const manifest: BackupManifest = {
    format: 'directory',
    path: dir,
    target,
    database,
    createdAt: new Date(started).toISOString(),
    serverVersion: sizes.version,
    revision,
    totalBytes: files.reduce((n, f) => n + f.bytes, 0),
    files: files.map(({ file, bytes, sha256 }): BackupFile => ({ file, bytes, sha256 })),
    tables,
    jobs,
    durationMs: Date.now() - started,
  };
  const manifestText = JSON.stringify(manifest, null, 2);
  await writeFile(path.join(partial, MANIFEST), manifestText, { mode: 0o600 });
  await rename(partial, dir);
  return {
    ...manifest,
    path: dir,
    pgDumpMs,
    manifestSha256: createHash('sha256').update(manifestText).digest('hex'),
    checks: [
      `${files.length} files hashed into the manifest (sha256)`,
      `pg_restore --list reads it: ${entries.length} tables with data`,
      `rows counted in the data files of ${entries.length - uncounted.length} tables${uncounted.length ? `, in the database for ${uncounted.join(', ')} (data files not in a format we count)` : ''}`,
    ],
  };
}
