import { existsSync } from 'node:fs';
import { chmod, lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type BackupsRoot, confineBackup } from './backup-paths.js';
import type { ActivityContext } from './context.js';
import { digestFiles } from './digest.js';

/**
 * Dump files on this worker: where a target's dumps go, their manifest's shape, hashing, listing
 * and removing them (the janitor).
 */

export type BackupContext = Pick<ActivityContext, 'targets' | 'dataDir'>;

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

export const MANIFEST = 'manifest.json';

/** Where this worker writes the target's dumps: its backups.dir, else the data dir. */
export function backupsDir(ctx: BackupContext, target: string): string {
  return path.resolve(ctx.targets.spec(target).backups?.dir ?? path.join(ctx.dataDir, 'backups'), target);
}

/**
 * A backup given by path: its real path inside the target's backups dir (or where this worker's
 * own dumps go, when the target declares no backups.dir), or a refusal that says nothing of it.
 */
export function confined(ctx: BackupContext, target: string, file: unknown): Promise<string> {
  const declared = ctx.targets.spec(target).backups?.dir;
  const root: BackupsRoot = {
    dir: declared ? path.resolve(declared) : backupsDir(ctx, target),
    declared: declared !== undefined,
    target,
    targetsFile: ctx.targets.file,
  };
  return confineBackup(root, file);
}

export async function sha256File(file: string): Promise<string> {
  return (await digestFiles([{ path: file }]))[0]!.sha256;
}

/**
 * Size and sha256 of each file (made 0600), on worker threads; with the rows of the files named
 * in `countRowsOf` (COPY data files).
 */
export async function hashAll(
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

export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  // lstat: a symlink in the directory is counted as itself, never as what it points at.
  for (const f of await readdir(dir).catch(() => []))
    total += (await lstat(path.join(dir, f)).catch(() => ({ size: 0 }))).size;
  return total;
}

/** Removes a dump directory of ours (the janitor, after the target's retention). */
export async function removeBackup(ctx: BackupContext, target: string, name: string): Promise<{ removed: boolean }> {
  const dir = path.join(backupsDir(ctx, target), path.basename(name));
  if (!existsSync(dir)) return { removed: false };
  await rm(dir, { recursive: true, force: true });
  return { removed: true };
}

export async function listBackups(
  ctx: BackupContext,
  target: string,
): Promise<Array<{ name: string; createdAt: string; totalBytes: number }>> {
  const root = backupsDir(ctx, target);
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
}
