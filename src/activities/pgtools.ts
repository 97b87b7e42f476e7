import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import pg from 'pg';
import type { PgConnection, TargetRegistry } from '../targets.js';
import { redact, trimOutput } from '../util/redact.js';
import { BackupRefused, type BackupsRoot, confineBackup, isPlainFileName } from './backup-paths.js';
import { childEnv, LIBPQ_VARS } from './child-env.js';
import { type ManagedMeta, parseManagedComment } from './databases.js';
import { digestFiles } from './digest.js';
import { FailureType } from './errors.js';
import { withHeartbeats } from './heartbeat.js';
import { PSQL_REFUSED, PSQL_WITHOUT_RESTRICT, restrictedScript, scanPlainSql } from './plain-sql.js';
import { connectionOf, OWN_SESSION_OPTIONS, withPg } from './postgres.js';

/**
 * PostgreSQL's own tools on a target: pg_dump (schema and backups), pg_restore, psql. The
 * password reaches them through PGPASSWORD only, never in a URL or an argument; their output is
 * redacted before it leaves the activity.
 */

export interface BackupFile {
  file: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: 'directory' | 'custom' | 'plain';
  path: string;
  target: string;
  database: string;
  createdAt: string;
  serverVersion: string;
  /** The alembic revision(s) the dump holds. */
  revision: string[] | null;
  totalBytes: number;
  files: BackupFile[];
  /**
   * Rows of each table the dump has data for, counted in its data files: exactly the dump's rows,
   * taken in pg_dump's own snapshot (a count in another transaction could differ on a live database).
   */
  tables: Record<string, number>;
  jobs?: number;
  durationMs?: number;
}

export interface VerifiedBackup {
  path: string;
  format: BackupManifest['format'];
  /** sha256 of the dump file, or of the manifest for a directory dump. */
  sha256: string;
  totalBytes: number;
  /** Tables the dump has data for (from pg_restore --list or the SQL). */
  tableCount: number;
  manifest?: BackupManifest;
  checks: string[];
}

export interface SchemaDiff {
  same: boolean;
  /** Statements (normalised pg_dump --schema-only) in the database but not in the reference. */
  extra: string[];
  /** Statements in the reference but not in the database. */
  missing: string[];
  reference: string;
}

export interface TableRows {
  table: string;
  rows: number;
  /** The table's single integer primary key column and its largest value. */
  maxId?: { column: string; value: number | null };
  /** The table's first timestamp column and its newest value. */
  newest?: { column: string; value: string | null };
}

export interface LostRows {
  table: string;
  /** Rows the live database has beyond the backup's largest id (or by count when no integer key). */
  rows: number;
  /** false: the backup has no such table (created since, e.g. by the release itself). */
  inBackup: boolean;
  newestInLive?: string | null;
  newestInBackup?: string | null;
}

const MANIFEST = 'manifest.json';

function pgEnv(conn: PgConnection, database: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: database,
    PGOPTIONS: OWN_SESSION_OPTIONS,
    PGAPPNAME: 'durable-runbooks',
    PGCONNECT_TIMEOUT: '10',
    ...extra,
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return env;
}

const CONNECTION_LOST =
  /terminating connection due to administrator command|server closed the connection unexpectedly|connection to server .* failed|could not connect to server|the database system is (?:starting up|shutting down|in recovery mode)|Connection refused/;

/** Runs a PostgreSQL client tool; fails with its (redacted) words. Cancels with the activity. */
async function pgTool(
  conn: PgConnection,
  database: string,
  bin: string,
  args: string[],
  opts: { timeoutMs?: number; stdin?: AsyncIterable<Uint8Array> } = {},
) {
  let cancelSignal: AbortSignal | undefined;
  try {
    cancelSignal = Context.current().cancellationSignal;
  } catch {
    cancelSignal = undefined; // outside an activity (benchmarks)
  }
  const r = await execa(bin, args, {
    env: childEnv(pgEnv(conn, database), { pass: LIBPQ_VARS }),
    extendEnv: false,
    reject: false,
    timeout: opts.timeoutMs ?? 60 * 60_000,
    stdin: opts.stdin ?? 'ignore',
    cancelSignal,
    maxBuffer: 256 * 1024 * 1024,
  });
  const secrets = [conn.password];
  if (r.exitCode === undefined && (r as { code?: string }).code === 'ENOENT') {
    throw ApplicationFailure.nonRetryable(
      `${bin} is not installed on this worker (Debian: apt-get install postgresql-client).`,
      FailureType.commandMissing,
    );
  }
  if (r.isCanceled) throw ApplicationFailure.nonRetryable(`${bin} was cancelled.`, 'Cancelled');
  if (r.exitCode !== 0) {
    const message = `${bin} ${args
      .filter((a) => !a.startsWith('-') || a.length < 3)
      .slice(0, 3)
      .join(
        ' ',
      )} on database "${database}" failed (exit ${r.exitCode ?? r.signal}): ${trimOutput(redact(r.stderr || r.stdout, secrets))}`;
    // A dump cut off by the server going away (restart, failover) is retried: each attempt dumps
    // afresh into its own partial directory, so a retry cannot mix attempts. Other tools are not
    // retried blindly (a half-done restore must be looked at).
    if (bin === 'pg_dump' && CONNECTION_LOST.test(r.stderr))
      throw ApplicationFailure.retryable(`${message} (the connection was lost: retrying)`, 'ConnectionLost');
    throw ApplicationFailure.nonRetryable(message, FailureType.command);
  }
  return { stdout: r.stdout, stderr: redact(r.stderr, secrets) };
}

/**
 * A plain SQL dump into `database` by psql in restricted mode: psql refuses every meta-command
 * the script holds (see plain-sql.ts), and the script cannot lift it without the key, a fresh one
 * each time and never in the file. ON_ERROR_STOP and one transaction: a refusal restores nothing.
 */
async function psqlRestricted(conn: PgConnection, database: string, file: string) {
  const key = randomBytes(24).toString('hex');
  try {
    return await pgTool(
      conn,
      database,
      'psql',
      ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'],
      { stdin: restrictedScript(file, key) },
    );
  } catch (err) {
    const message = (err as Error).message;
    if (PSQL_WITHOUT_RESTRICT.test(message)) {
      throw ApplicationFailure.nonRetryable(
        `psql on this worker has no restricted mode (\\restrict: psql 13.22, 14.19, 15.14, 16.10, 17.6 or newer), so the plain SQL dump ${file} was not restored: its meta-commands could run here. Upgrade postgresql-client on the worker, or restore from a custom or directory dump.`,
        FailureType.commandMissing,
      );
    }
    if (PSQL_REFUSED.test(message)) {
      throw ApplicationFailure.nonRetryable(
        `Backup ${file} is refused: psql met a meta-command in it and refused it (restricted mode); nothing was restored into "${database}". Use a dump made by pg_dump.`,
        BackupRefused,
      );
    }
    throw err;
  }
}

/**
 * pg_dump --schema-only, normalised to comparable statements: no comments, SET lines, owners,
 * privileges or sequence positions, one statement per entry, whitespace collapsed.
 */
export function normaliseSchema(dump: string): string[] {
  const statements = dump
    .split('\n')
    // pg_dump ≥ 15.14 brackets its output in \restrict/\unrestrict lines with a random key.
    .filter((l) => !l.startsWith('--') && !l.startsWith('\\') && !/^SET |^SELECT pg_catalog\.set_config/.test(l))
    .join('\n')
    .split(/;\s*\n/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 0 && !/^(COMMENT ON|ALTER .* OWNER TO|GRANT |REVOKE |SELECT pg_catalog\.setval)/.test(s));
  return statements;
}

export function diffSchemas(actual: string[], reference: string[], referenceName: string): SchemaDiff {
  const ref = new Set(reference);
  const act = new Set(actual);
  const extra = actual.filter((s) => !ref.has(s));
  const missing = reference.filter((s) => !act.has(s));
  return { same: extra.length === 0 && missing.length === 0, extra, missing, reference: referenceName };
}

async function sha256File(file: string): Promise<string> {
  return (await digestFiles([{ path: file }]))[0]!.sha256;
}

/**
 * Size and sha256 of each file (made 0600), on worker threads; with the rows of the files named
 * in `countRowsOf` (COPY data files).
 */
async function hashAll(
  dir: string,
  names: string[],
  countRowsOf: ReadonlySet<string> = new Set(),
): Promise<Array<BackupFile & { rows?: number | null }>> {
  const sizes: number[] = [];
  for (const name of names) {
    await chmod(path.join(dir, name), 0o600);
    sizes.push((await stat(path.join(dir, name))).size);
  }
  const digests = await digestFiles(
    names.map((n) => ({ path: path.join(dir, n), countRows: countRowsOf.has(n) })),
    { sizes },
  );
  return digests.map((d, i) => ({ file: names[i]!, ...d }));
}

/** The data file of each table in a directory dump, from `pg_restore --list`: dump id, table oid. */
export function tableDataEntries(list: string): Array<{ dumpId: string; oid: string }> {
  return [...list.matchAll(/^(\d+); \d+ (\d+) TABLE DATA /gm)].map((m) => ({ dumpId: m[1]!, oid: m[2]! }));
}

/** Exact rows of tables (names as `format('%I.%I')` gives them), two sessions at a time. */
async function countRows(
  targets: TargetRegistry,
  target: string,
  database: string,
  tables: Array<{ table: string; partitioned?: boolean }>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let next = 0;
  const lane = () =>
    withPg(
      targets,
      target,
      async (c) => {
        for (let i = next++; i < tables.length; i = next++) {
          const t = tables[i]!;
          // ONLY: a table's own rows, as its COPY data holds them (not its inheritance children's).
          out[t.table] = Number(
            (await c.query<{ n: string }>(`select count(*) as n from ${t.partitioned ? '' : 'only '}${t.table}`))
              .rows[0]!.n,
          );
        }
      },
      { database, statementTimeoutMs: 10 * 60_000 },
    );
  await Promise.all([lane(), lane()]);
  return out;
}

/** The tables of a database by oid, named as `format('%I.%I')` gives them. */
async function tablesByOid(c: pg.Client): Promise<Map<string, { table: string; partitioned: boolean }>> {
  const { rows } = await c.query<{ oid: string; tbl: string; kind: string }>(
    `select c.oid::text as oid, format('%I.%I', n.nspname, c.relname) as tbl, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`,
  );
  return new Map(rows.map((r) => [r.oid, { table: r.tbl, partitioned: r.kind === 'p' }]));
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  // lstat: a symlink in the directory is counted as itself, never as what it points at.
  for (const f of await readdir(dir).catch(() => []))
    total += (await lstat(path.join(dir, f)).catch(() => ({ size: 0 }))).size;
  return total;
}

/** A file's bytes, refusing to follow a symlink put in its place. */
async function readNoFollow(file: string): Promise<Buffer> {
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * A dump directory's manifest, shape checked and every file name a plain name inside the
 * directory, before any file it names is opened. Its text is never quoted back (it may be anything).
 */
export function parseManifest(dir: string, text: Buffer | string): BackupManifest {
  let m: unknown;
  try {
    m = JSON.parse(text.toString());
  } catch {
    throw ApplicationFailure.nonRetryable(
      `Backup ${dir} is corrupt: its ${MANIFEST} is not valid JSON. Use another backup.`,
      'BackupCorrupt',
    );
  }
  const manifest = m as Partial<BackupManifest> | null;
  if (
    typeof manifest !== 'object' ||
    manifest === null ||
    !Array.isArray(manifest.files) ||
    typeof manifest.tables !== 'object' ||
    manifest.tables === null
  ) {
    throw ApplicationFailure.nonRetryable(
      `Backup ${dir} is corrupt: its ${MANIFEST} is not a manifest of durable-runbooks (no files and tables). Use another backup.`,
      'BackupCorrupt',
    );
  }
  for (const f of manifest.files as unknown[]) {
    const name = (f as Partial<BackupFile> | null)?.file;
    if (!isPlainFileName(name)) {
      throw ApplicationFailure.nonRetryable(
        `Backup ${dir} is refused: its ${MANIFEST} lists ${JSON.stringify(name)?.slice(0, 100) ?? 'an entry without a name'}, which is not a plain file name inside the dump directory. Use another backup.`,
        BackupRefused,
      );
    }
    const { bytes, sha256 } = f as BackupFile;
    if (typeof bytes !== 'number' || typeof sha256 !== 'string')
      throw ApplicationFailure.nonRetryable(
        `Backup ${dir} is corrupt: its ${MANIFEST} gives no size or sha256 for ${name}. Use another backup.`,
        'BackupCorrupt',
      );
  }
  return manifest as BackupManifest;
}

async function tableRows(c: pg.Client): Promise<TableRows[]> {
  const { rows } = await c.query<{ tbl: string; pk: string | null; ts: string | null }>(
    `select format('%I.%I', n.nspname, c.relname) as tbl,
            (select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
              where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1 and a.atttypid in (20, 21, 23)) as pk,
            (select a.attname from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                and a.atttypid in (1114, 1184) order by a.attnum limit 1) as ts
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      order by 1`,
  );
  const out: TableRows[] = [];
  for (const t of rows) {
    const cols = [
      `count(*)::bigint as n`,
      t.pk ? `max(${quoteCol(t.pk)})::bigint as maxid` : 'null as maxid',
      t.ts ? `max(${quoteCol(t.ts)})::text as newest` : 'null as newest',
    ];
    const r = (
      await c.query<{ n: string; maxid: string | null; newest: string | null }>(
        `select ${cols.join(', ')} from ${t.tbl}`,
      )
    ).rows[0]!;
    out.push({
      table: t.tbl,
      rows: Number(r.n),
      ...(t.pk ? { maxId: { column: t.pk, value: r.maxid === null ? null : Number(r.maxid) } } : {}),
      ...(t.ts ? { newest: { column: t.ts, value: r.newest } } : {}),
    });
  }
  return out;
}

const quoteCol = (c: string) => `"${c.replace(/"/g, '""')}"`;

/**
 * What replacing the live database by a backup would lose, table by table: rows whose integer id
 * is beyond the backup's largest (counted in the live database), else the difference in counts;
 * with the newest timestamps on both sides. Tables with nothing to lose are left out.
 */
async function rowsNotIn(c: pg.Client, backup: TableRows[]): Promise<LostRows[]> {
  const live = await tableRows(c);
  const byName = new Map(backup.map((t) => [t.table, t]));
  const lost: LostRows[] = [];
  for (const t of live) {
    if (t.table === 'public.alembic_version') continue;
    const b = byName.get(t.table);
    let rows: number;
    if (!b) rows = t.rows;
    else if (t.maxId && b.maxId?.column === t.maxId.column) {
      const beyond = await c.query<{ n: string }>(
        `select count(*) as n from ${t.table} where ${quoteCol(t.maxId.column)} > $1`,
        [b.maxId.value ?? Number.MIN_SAFE_INTEGER],
      );
      rows = Number(beyond.rows[0]!.n);
    } else rows = Math.max(0, t.rows - b.rows);
    if (rows === 0) continue;
    lost.push({
      table: t.table,
      rows,
      inBackup: b !== undefined,
      newestInLive: t.newest?.value ?? null,
      newestInBackup: b?.newest?.value ?? null,
    });
  }
  return lost;
}

export function createPgToolActivities(targets: TargetRegistry, dataDir: string) {
  const backupsDir = (target: string) =>
    path.resolve(targets.spec(target).backups?.dir ?? path.join(dataDir, 'backups'), target);

  async function schemaOf(target: string, database: string): Promise<string[]> {
    const { stdout } = await pgTool(connectionOf(targets, target), database, 'pg_dump', [
      '--schema-only',
      '--no-owner',
      '--no-privileges',
      '--no-comments',
    ]);
    return normaliseSchema(stdout);
  }

  async function revisionIn(target: string, database: string): Promise<string[] | null> {
    return withPg(
      targets,
      target,
      async (c) => {
        const t = await c.query<{ t: string | null }>(`select to_regclass('alembic_version')::text as t`);
        if (!t.rows[0]?.t) return null;
        return (await c.query<{ v: string }>('select version_num as v from alembic_version order by 1')).rows.map(
          (r) => r.v,
        );
      },
      { database },
    );
  }

  /**
   * A backup given by path: its real path inside the target's backups dir (or where this worker's
   * own dumps go, when the target declares no backups.dir), or a refusal that says nothing of it.
   */
  function confined(target: string, file: unknown): Promise<string> {
    const declared = targets.spec(target).backups?.dir;
    const root: BackupsRoot = {
      dir: declared ? path.resolve(declared) : backupsDir(target),
      declared: declared !== undefined,
      target,
      targetsFile: targets.file,
    };
    return confineBackup(root, file);
  }

  /** Checks a dump at a real path inside the backups dir (see `confined`); reads it, never changes it. */
  async function verify(target: string, file: string): Promise<VerifiedBackup> {
    const info = await lstat(file).catch(() => undefined);
    if (!info)
      throw ApplicationFailure.nonRetryable(
        `Backup ${file} does not exist on this worker. Give the path of a pg_dump file or directory (custom, directory or plain SQL format).`,
        'BackupMissing',
      );
    if (info.isDirectory()) return verifyDirectory(target, file);
    if (!info.isFile())
      throw ApplicationFailure.nonRetryable(
        `Backup ${file} is refused: it is neither a regular file nor a directory. Give the path of a pg_dump file or directory.`,
        BackupRefused,
      );
    const conn = connectionOf(targets, target);
    const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    const head = Buffer.alloc(64);
    const tail = Buffer.alloc(Math.min(256, info.size));
    try {
      await handle.read(head, 0, 64, 0);
      await handle.read(tail, 0, tail.length, Math.max(0, info.size - tail.length));
    } finally {
      await handle.close();
    }
    const sha256 = await sha256File(file);
    if (head.subarray(0, 5).toString() === 'PGDMP') {
      const list = await pgTool(conn, conn.database, 'pg_restore', ['--list', file]).catch((err: unknown) => {
        throw ApplicationFailure.nonRetryable(
          `Backup ${file} cannot be read by pg_restore (truncated or corrupt): ${(err as Error).message}`,
          'BackupCorrupt',
        );
      });
      const tableCount = list.stdout.split('\n').filter((l) => / TABLE DATA /.test(l)).length;
      return {
        path: file,
        format: 'custom',
        sha256,
        totalBytes: info.size,
        tableCount,
        checks: [`custom-format dump; pg_restore --list reads it: ${tableCount} tables with data`],
      };
    }
    if (head.toString('utf8').includes('PostgreSQL database dump')) {
      if (!tail.toString('utf8').includes('PostgreSQL database dump complete')) {
        throw ApplicationFailure.nonRetryable(
          `Backup ${file} is a plain SQL dump that is truncated (it lacks pg_dump's closing "-- PostgreSQL database dump complete" line). Restoring it would give a partial database; use another backup.`,
          'BackupCorrupt',
        );
      }
      const scan = await scanPlainSql(file);
      if (scan.refused) {
        throw ApplicationFailure.nonRetryable(
          `Backup ${file} is refused: line ${scan.refused.line} is a psql meta-command (\`${scan.refused.command}\`), which psql would run on this worker. A dump made by pg_dump has none outside COPY data but its \\restrict lines; use another backup.`,
          BackupRefused,
        );
      }
      const checks = [
        `plain SQL dump, complete (closing line present): ${scan.copyBlocks} COPY blocks, no psql meta-command (restored by psql in restricted mode)`,
      ];
      return { path: file, format: 'plain', sha256, totalBytes: info.size, tableCount: scan.copyBlocks, checks };
    }
    throw ApplicationFailure.nonRetryable(
      `${file} is not a PostgreSQL dump (neither pg_dump custom/directory format nor a plain SQL dump).`,
      'BackupCorrupt',
    );
  }

  /**
   * A directory dump holds regular files only (no symlink out of it), and the names its manifest
   * lists are checked before any of them is opened; then every file against its sha256.
   */
  async function verifyDirectory(target: string, dir: string): Promise<VerifiedBackup> {
    const conn = connectionOf(targets, target);
    const entries = await readdir(dir, { withFileTypes: true });
    const odd = entries.find((e) => !e.isFile());
    if (odd)
      throw ApplicationFailure.nonRetryable(
        `Backup ${dir} is refused: ${JSON.stringify(odd.name)} in it is not a regular file (a symlink, a directory or a device), and a pg_dump directory dump holds regular files only. Use another backup.`,
        BackupRefused,
      );
    const present = new Set(entries.map((e) => e.name));
    if (!present.has('toc.dat'))
      throw ApplicationFailure.nonRetryable(
        `Backup ${dir} is a directory but not a pg_dump directory dump (no toc.dat).`,
        'BackupCorrupt',
      );
    const checks: string[] = [];
    let manifestText: Buffer | undefined;
    let manifest: BackupManifest | undefined;
    if (present.has(MANIFEST)) {
      manifestText = await readNoFollow(path.join(dir, MANIFEST));
      manifest = parseManifest(dir, manifestText);
      for (const f of manifest.files) {
        if (!present.has(f.file))
          throw ApplicationFailure.nonRetryable(
            `Backup ${dir} is incomplete: ${f.file} is missing (the manifest lists it).`,
            'BackupCorrupt',
          );
      }
      const sizes = await Promise.all(manifest.files.map(async (f) => (await lstat(path.join(dir, f.file))).size));
      const actual = await digestFiles(
        manifest.files.map((f) => ({ path: path.join(dir, f.file) })),
        { sizes },
      );
      for (const [i, f] of manifest.files.entries()) {
        const a = actual[i]!;
        if (a.bytes !== f.bytes || a.sha256 !== f.sha256)
          throw ApplicationFailure.nonRetryable(
            `Backup ${dir} is corrupt: ${f.file} does not match its sha256 in the manifest (${a.bytes} bytes, manifest says ${f.bytes}). Use another backup.`,
            'BackupCorrupt',
          );
      }
      checks.push(`${manifest.files.length} files match the manifest's sha256`);
    } else checks.push('no manifest (not made by durable-runbooks): checked with pg_restore only');
    const list = await pgTool(conn, conn.database, 'pg_restore', ['--list', dir]).catch((err: unknown) => {
      throw ApplicationFailure.nonRetryable(
        `Backup ${dir} cannot be read by pg_restore: ${(err as Error).message}`,
        'BackupCorrupt',
      );
    });
    const tableCount = list.stdout.split('\n').filter((l) => / TABLE DATA /.test(l)).length;
    checks.push(`pg_restore --list reads it: ${tableCount} tables with data`);
    const sha256 = manifestText
      ? createHash('sha256').update(manifestText).digest('hex')
      : await sha256File(path.join(dir, 'toc.dat'));
    return { path: dir, format: 'directory', sha256, totalBytes: await dirBytes(dir), tableCount, manifest, checks };
  }

  /** A dump is rarely larger than the database: demand that much free on the dump's disk, plus 10%. */
  async function checkSpace(target: string, root: string, database: string, databaseBytes: number) {
    await mkdir(root, { recursive: true, mode: 0o700 });
    const fs = await statfs(root);
    const free = fs.bavail * fs.bsize;
    const needed = Math.ceil(databaseBytes * 1.1);
    if (free < needed) {
      throw ApplicationFailure.nonRetryable(
        `Not enough disk for the backup of "${database}": ${root} has ${mb(free)} free, the dump may need ${mb(needed)} (database ${mb(databaseBytes)}). Free space there or set backups.dir in ${targets.file}. Nothing was changed.`,
        'NotEnoughDisk',
      );
    }
    return { dir: root, freeBytes: free, neededBytes: needed, databaseBytes };
  }

  return {
    /**
     * Free disk for the dump, checked before anything is changed (on the dump's own disk; the
     * database server's disk is unknown to a worker that does not run there, and a snapshot needs
     * about the database's size there too).
     */
    async pgBackupSpace(
      target: string,
    ): Promise<{ dir: string; freeBytes: number; neededBytes: number; databaseBytes: number; serverDisk: 'unknown' }> {
      const database = connectionOf(targets, target).database;
      const size = await withPg(targets, target, async (c) =>
        Number((await c.query<{ s: string }>('select pg_database_size(current_database())::text as s')).rows[0]!.s),
      );
      return { ...(await checkSpace(target, backupsDir(target), database, size)), serverDisk: 'unknown' };
    },

    /** The database's schema against another database's, or against a fresh build (see freshBuild). */
    async pgSchemaDiff(
      target: string,
      req: { database?: string; against: string; againstLabel?: string },
    ): Promise<SchemaDiff> {
      const actual = await schemaOf(target, req.database ?? connectionOf(targets, target).database);
      const reference = await schemaOf(target, req.against);
      return diffSchemas(actual, reference, req.againstLabel ?? req.against);
    },

    /** Rows per table (count, largest integer id, newest timestamp) of a database on the target's server. */
    async pgTableRows(target: string, database?: string): Promise<TableRows[]> {
      return withPg(targets, target, tableRows, { database, statementTimeoutMs: 10 * 60_000 });
    },

    /** What the live database holds that a backup (its row summary) lacks: the evidence at a restore gate. */
    async pgRowsNotIn(target: string, backup: TableRows[]): Promise<LostRows[]> {
      return withPg(targets, target, (c) => rowsNotIn(c, backup), { statementTimeoutMs: 10 * 60_000 });
    },

    async pgRevisionIn(target: string, database: string): Promise<string[] | null> {
      return revisionIn(target, database);
    },

    /** Runs SQL statements we generated (leftover drops) in one transaction. */
    async pgExecute(target: string, req: { database?: string; statements: string[] }): Promise<{ executed: number }> {
      return withPg(
        targets,
        target,
        async (c) => {
          await c.query('begin');
          for (const s of req.statements) await c.query(s);
          await c.query('commit');
          return { executed: req.statements.length };
        },
        { database: req.database },
      );
    },

    /**
     * A portable dump: pg_dump directory format with parallel jobs, then a manifest (size and
     * sha256 of every file, exact row counts, server version, revision), files 0600, verified with
     * pg_restore --list. The free disk is checked first. A retry finds a complete dump and keeps it.
     */
    async pgDumpBackup(
      target: string,
      req: { name: string; jobs?: number; database?: string; compress?: number },
    ): Promise<BackupManifest & { manifestSha256: string; checks: string[]; pgDumpMs?: number }> {
      const conn = connectionOf(targets, target);
      const database = req.database ?? conn.database;
      const root = backupsDir(target);
      const dir = path.join(root, req.name);
      if (existsSync(path.join(dir, MANIFEST))) {
        const done = await verify(target, dir).catch(() => undefined);
        if (done?.manifest) return { ...done.manifest, manifestSha256: done.sha256, checks: done.checks };
      }
      await mkdir(root, { recursive: true, mode: 0o700 });
      // Each attempt dumps into its own partial directory, renamed into place once complete: a
      // pg_dump orphaned by a killed worker can only ever write into an abandoned partial one.
      for (const stale of (await readdir(root)).filter((f) => f.startsWith(`${req.name}.partial-`)))
        await rm(path.join(root, stale), { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
      const partial = `${dir}.partial-${process.pid}-${Date.now()}`;
      const sizes = await withPg(
        targets,
        target,
        async (c) => {
          const r = await c.query<{ size: string; version: string }>(
            `select pg_database_size(current_database())::text as size, current_setting('server_version') as version`,
          );
          return { size: Number(r.rows[0]!.size), version: r.rows[0]!.version };
        },
        { database },
      );
      await checkSpace(target, root, database, sizes.size);
      const revision = await revisionIn(target, database);
      const jobs = req.jobs ?? 2;
      const started = Date.now();
      await withHeartbeats(
        // Uncompressed by default: on a 2-core worker, gzip doubled the dump's time (bench/RESULTS.md).
        pgTool(conn, database, 'pg_dump', [
          '--format=directory',
          `--jobs=${jobs}`,
          `--compress=${req.compress ?? targets.spec(target).backups?.compress ?? 0}`,
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
      const byOid = await withPg(targets, target, tablesByOid, { database });
      const tables: Record<string, number> = {};
      const uncounted: Array<{ table: string; partitioned: boolean }> = [];
      for (const e of entries) {
        const t = byOid.get(e.oid);
        if (!t)
          throw ApplicationFailure.retryable(
            `A table in the dump of "${database}" (oid ${e.oid}) is no longer in the database: its schema changed while it was dumped. Dumping again.`,
            'SchemaChanged',
          );
        const rows = files.find((f) => f.file === dataFiles.get(e.dumpId))?.rows;
        if (rows === undefined || rows === null) uncounted.push(t);
        else tables[t.table] = rows;
      }
      // Data files we could not count (not pg_dump's COPY text as we know it): counted in the database.
      if (uncounted.length) Object.assign(tables, await countRows(targets, target, database, uncounted));
      const manifest: BackupManifest = {
        format: 'directory',
        path: dir,
        target,
        database,
        createdAt: new Date(started).toISOString(),
        serverVersion: sizes.version,
        revision,
        totalBytes: files.reduce((n, f) => n + f.bytes, 0),
        files: files.map(({ file, bytes, sha256 }) => ({ file, bytes, sha256 })),
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
          `rows counted in the data files of ${entries.length - uncounted.length} tables${uncounted.length ? `, in the database for ${uncounted.map((t) => t.table).join(', ')} (data files not in a format we count)` : ''}`,
        ],
      };
    },

    /** Checks a backup before anyone relies on it: exists, is a dump, complete, matches its manifest. */
    async pgVerifyBackup(target: string, file: string): Promise<VerifiedBackup> {
      return verify(target, await confined(target, file));
    },

    /**
     * Restores a verified backup into the (empty) scratch database: pg_restore -j for custom and
     * directory dumps, psql for plain SQL. Then compares row counts with the manifest when there is one.
     */
    async pgRestoreInto(
      target: string,
      req: { file: string; scratch: string; jobs?: number },
    ): Promise<{
      scratch: string;
      format: string;
      bytes: number;
      rows: Record<string, number> | null;
      matchesManifest: boolean | null;
      durationMs: number;
      restoreCommandMs: number;
    }> {
      const conn = connectionOf(targets, target);
      const backup = await verify(target, await confined(target, req.file));
      // Start from an empty scratch database every attempt: an earlier attempt (or its orphaned
      // pg_restore, whose session this ends) may have left part of a restore in it. One that no
      // restore has begun in (its label says) and that nobody is on is empty: used as it is.
      await withPg(
        targets,
        target,
        async (c) => {
          const label = await c.query<{ comment: string | null; sessions: number }>(
            `select shobj_description(oid, 'pg_database') as comment, (select count(*)::int from pg_stat_activity a where a.datname = d.datname) as sessions
             from pg_database d where datname = $1`,
            [req.scratch],
          );
          const meta = parseManagedComment(label.rows[0]?.comment ?? null);
          if (meta?.kind !== 'scratch')
            throw ApplicationFailure.nonRetryable(
              `"${req.scratch}" is not a scratch database of ours; refusing to restore into it.`,
              'NotManaged',
            );
          const fresh = meta.restoreStartedAt === undefined && label.rows[0]!.sessions === 0;
          if (!fresh) {
            await c.query(`drop database ${pg.escapeIdentifier(req.scratch)} with (force)`);
            await c.query(`create database ${pg.escapeIdentifier(req.scratch)} template template0`);
          }
          await c.query(
            `comment on database ${pg.escapeIdentifier(req.scratch)} is ${pg.escapeLiteral(JSON.stringify({ ...meta, restoreStartedAt: new Date().toISOString() } satisfies ManagedMeta))}`,
          );
        },
        { database: 'postgres', statementTimeoutMs: 5 * 60_000 },
      );
      const started = Date.now();
      const work =
        backup.format === 'plain'
          ? psqlRestricted(conn, req.scratch, backup.path)
          : pgTool(conn, req.scratch, 'pg_restore', [
              '--exit-on-error',
              '--no-owner',
              `--jobs=${backup.format === 'directory' ? (req.jobs ?? 2) : 1}`,
              `--dbname=${req.scratch}`,
              backup.path,
            ]);
      await withHeartbeats(work, () => ({ phase: 'restore', format: backup.format, scratch: req.scratch }), {
        atStart: true,
      });
      const restoreCommandMs = Date.now() - started;
      if (!backup.manifest)
        return {
          scratch: req.scratch,
          format: backup.format,
          bytes: backup.totalBytes,
          rows: null,
          matchesManifest: null,
          durationMs: restoreCommandMs,
          restoreCommandMs,
        };
      // Every table of the manifest, counted in the restored copy (names as its catalog spells them).
      const expected = backup.manifest.tables;
      const present = [...(await withPg(targets, target, tablesByOid, { database: req.scratch })).values()].filter(
        (t) => t.table in expected,
      );
      const rows = await countRows(targets, target, req.scratch, present);
      const mismatched = Object.entries(expected).filter(([t, n]) => rows[t] !== n);
      if (mismatched.length) {
        throw ApplicationFailure.nonRetryable(
          `The restore of ${backup.path} into "${req.scratch}" does not match the manifest's row counts (${mismatched.map(([t, n]) => `${t}: manifest ${n}, restored ${rows[t] ?? 'no such table'}`).join(', ')}). The live database was not touched.`,
          'RestoreMismatch',
        );
      }
      return {
        scratch: req.scratch,
        format: backup.format,
        bytes: backup.totalBytes,
        rows,
        matchesManifest: true,
        durationMs: Date.now() - started,
        restoreCommandMs,
      };
    },

    /** Removes a dump directory of ours (the janitor, after the target's retention). */
    async removeBackup(target: string, name: string): Promise<{ removed: boolean }> {
      const dir = path.join(backupsDir(target), path.basename(name));
      if (!existsSync(dir)) return { removed: false };
      await rm(dir, { recursive: true, force: true });
      return { removed: true };
    },

    async listBackups(target: string): Promise<Array<{ name: string; createdAt: string; totalBytes: number }>> {
      const root = backupsDir(target);
      const out: Array<{ name: string; createdAt: string; totalBytes: number }> = [];
      for (const name of await readdir(root).catch(() => [])) {
        const m = await readFile(path.join(root, name, MANIFEST), 'utf8').then(
          (t) => JSON.parse(t) as BackupManifest,
          () => undefined,
        );
        const created = m?.createdAt ?? (await stat(path.join(root, name))).mtime.toISOString();
        out.push({ name, createdAt: created, totalBytes: m?.totalBytes ?? (await dirBytes(path.join(root, name))) });
      }
      return out;
    },
  };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
