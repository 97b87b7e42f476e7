import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Backups given by path (a run's `backup` input, a recovery gate's correction) are read only
 * inside the target's backups dir: the worker hashes, lists and restores what such a path names,
 * so a path from any channel that started the run is checked here, on the worker, before anything
 * touches it. A refused path gets the same words whether it exists or not.
 */

export const BackupRefused = 'BackupRefused';

export interface BackupsRoot {
  /** Absolute: the target's backups.dir, or where this worker writes dumps when the target declares none. */
  dir: string;
  /** false: the target declares no backups.dir; only dumps runs wrote there themselves are read. */
  declared: boolean;
  target: string;
  /** The targets file, named in the refusal. */
  targetsFile: string;
}

/** `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function refusal(root: BackupsRoot, given: string): ApplicationFailure {
  const shown = JSON.stringify(given.slice(0, 300));
  return root.declared
    ? ApplicationFailure.nonRetryable(
        `Backup ${shown} is refused: backups are read only from target "${root.target}"'s backups.dir (${root.dir}). Put the dump there and give its path, or its name inside that directory.`,
        BackupRefused,
      )
    : ApplicationFailure.nonRetryable(
        `Backup ${shown} is refused: target "${root.target}" declares no backups.dir in ${root.targetsFile}, so no backup is read by path. Declare backups.dir there and put the dump inside it.`,
        BackupRefused,
      );
}

/**
 * The real path of the nearest ancestor of `p` (p itself included) that exists, or undefined
 * when that one is a symlink to nothing (it could point anywhere).
 */
async function nearestReal(p: string): Promise<string | undefined> {
  for (let at = p; ; at = path.dirname(at)) {
    if (
      await lstat(at).then(
        () => true,
        () => false,
      )
    )
      return realpath(at).catch(() => undefined);
    if (path.dirname(at) === at) return undefined;
  }
}

/**
 * The real path (symlinks resolved) of a backup given by path: absolute, or relative to the
 * backups dir; refused unless it lies inside that dir both as written and once resolved. A path
 * outside is refused without being looked at; a missing one is named as missing only when its
 * nearest existing ancestor is inside the dir.
 */
export async function confineBackup(root: BackupsRoot, given: unknown): Promise<string> {
  if (typeof given !== 'string' || given.length === 0 || given.includes('\0')) {
    throw ApplicationFailure.nonRetryable(
      `A backup is given as the path of a pg_dump file or directory inside target "${root.target}"'s backups dir; got ${JSON.stringify(given)?.slice(0, 100) ?? String(given)}.`,
      BackupRefused,
    );
  }
  const realRoot = await realpath(root.dir).catch(() => undefined);
  const written = path.resolve(root.dir, given);
  if (!isInside(root.dir, written) && !(realRoot && isInside(realRoot, written))) throw refusal(root, given);
  if (!realRoot) {
    if (!root.declared) throw refusal(root, given);
    throw ApplicationFailure.nonRetryable(
      `Backup ${JSON.stringify(given)} cannot be read: target "${root.target}"'s backups.dir ${root.dir} does not exist on this worker. Create it (mode 0700) and put the dump inside it.`,
      'BackupMissing',
    );
  }
  const real = await realpath(written).catch(() => undefined);
  if (real !== undefined) {
    if (!isInside(realRoot, real)) throw refusal(root, given);
    return real;
  }
  const ancestor = await nearestReal(written);
  // Missing is said only of a path whose nearest existing ancestor is in the dir: nothing is told of what lies outside.
  if (ancestor === undefined || !isInside(realRoot, ancestor)) throw refusal(root, given);
  throw ApplicationFailure.nonRetryable(
    `Backup ${JSON.stringify(given)} does not exist in ${root.dir} on this worker. Give the path of a pg_dump file or directory (custom, directory or plain SQL format) inside it.`,
    'BackupMissing',
  );
}

/**
 * A file name a dump directory's manifest may list: one plain name (pg_dump's `toc.dat`,
 * `1234.dat.gz`, `blob_5.dat`, our `manifest.json`), never a path, `..`, a backslash or a hidden
 * name, so no name can reach outside the directory.
 */
export function isPlainFileName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 255 && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name);
}
