import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

/** Newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/**
 * The cluster runs what production runs, compiled JavaScript: `npm run build` when dist/ is
 * missing or older than src/ (a minute; then the cluster starts in seconds).
 */
export async function ensureBuilt(log: (line: string) => void, root = process.cwd()): Promise<void> {
  const stamp = path.join(root, 'dist', 'workflow-bundle.js');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= newest(path.join(root, 'src'))) return;
  log('Compiling to dist/ (npm run build: tsc and the workflow bundles)…');
  const started = Date.now();
  const r = await execa('npm', ['run', '--silent', 'build'], { cwd: root, reject: false, all: true });
  if (r.exitCode !== 0)
    throw new Error(`npm run build failed (exit ${r.exitCode}):\n${r.all?.split('\n').slice(-30).join('\n')}`);
  log(`Compiled in ${Math.round((Date.now() - started) / 1000)} s.`);
}
