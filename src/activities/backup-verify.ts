import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { BackupRefused, isPlainFileName } from './backup-paths.js';
import {
  type BackupContext,
  type BackupFile,
  type BackupManifest,
  confined,
  dirBytes,
  MANIFEST,
  sha256File,
} from './backup-files.js';
import { digestFiles } from './digest.js';
import { pgTool } from './pg-tool.js';
import { scanPlainSql } from './plain-sql.js';
import { connectionOf } from './postgres.js';

/**
 * A backup checked before anyone relies on it, reading it and never changing it: a pg_dump custom
 * or directory dump pg_restore can read, or a complete plain SQL dump with no psql meta-command; a
 * directory dump of ours against the sha256 of every file in its manifest.
 */

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

/** Checks a dump at a real path inside the backups dir (see `confined`); reads it, never changes it. */
export async function verify(ctx: BackupContext, target: string, file: string): Promise<VerifiedBackup> {
  const info = await lstat(file).catch(() => undefined);
  if (!info)
    throw ApplicationFailure.nonRetryable(
      `Backup ${file} does not exist on this worker. Give the path of a pg_dump file or directory (custom, directory or plain SQL format).`,
      'BackupMissing',
    );
  if (info.isDirectory()) return verifyDirectory(ctx, target, file);
  if (!info.isFile())
    throw ApplicationFailure.nonRetryable(
      `Backup ${file} is refused: it is neither a regular file nor a directory. Give the path of a pg_dump file or directory.`,
      BackupRefused,
    );
  const conn = connectionOf(ctx.targets, target);
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
async function verifyDirectory(ctx: BackupContext, target: string, dir: string): Promise<VerifiedBackup> {
  const conn = connectionOf(ctx.targets, target);
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

/** Checks a backup before anyone relies on it: exists, is a dump, complete, matches its manifest. */
export async function pgVerifyBackup(ctx: BackupContext, target: string, file: string): Promise<VerifiedBackup> {
  return verify(ctx, target, await confined(ctx, target, file));
}
