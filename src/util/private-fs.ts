import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The data directory holds what no other user of the host may read: Temporal's database (every
 * run's history), copies of the app's tree (its .env too), generated files. Directories are 0700,
 * files 0600, also when they were made before by an older version (chmod, not only mkdir's mode).
 */

/** mkdir -p with mode 0700, and the directory itself made 0700 if it already existed. */
export function privateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Creates the file (empty) if missing, and makes it 0600: what is written into it later stays private. */
export function privateFileSync(file: string): void {
  privateDirSync(path.dirname(file));
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/** `dir` and every directory from `under` down to it made 0700 (created if missing). */
export async function privateDir(dir: string, under?: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let d = path.resolve(dir);
  const stop = under === undefined ? d : path.resolve(under);
  for (;;) {
    await chmod(d, 0o700);
    if (d === stop || path.dirname(d) === d || !d.startsWith(stop + path.sep)) break;
    d = path.dirname(d);
  }
}

/** Strips group and other permissions from everything in a tree (a copied app keeps its owner's bits). */
export async function privateTree(root: string): Promise<void> {
  const st = await lstat(root);
  if (st.isSymbolicLink()) return;
  await chmod(root, st.mode & 0o700);
  if (st.isDirectory()) for (const name of await readdir(root)) await privateTree(path.join(root, name));
}
