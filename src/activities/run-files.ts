import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { privateDir } from '../util/private-fs.js';
import { catalogue } from '../runbooks/catalogue.js';

/**
 * Per-run files on a worker's host, under its data directory: `work/<run>` (schema-drift's scratch
 * copy of the app's tree, its .env included) and `artifacts/<run>` (files handed back, such as a
 * generated migration). Private (0700/0600), and each names its run and target in run.json, so
 * the janitor of that target finds and removes them.
 */

export type RunFilesRoot = 'work' | 'artifacts';
const META = 'run.json';

export interface RunFiles {
  kind: 'work' | 'artifact';
  /** The directory's name under work/ or artifacts/. */
  name: string;
  /** The workflow id of the run that made it. */
  run: string;
  createdAt: string;
}

/** The run's private directory under `<dataDir>/<root>`, made with its run.json on first use. */
export async function runDir(dataDir: string, root: RunFilesRoot, run: string, target: string): Promise<string> {
  const dir = path.resolve(dataDir, root, run.replace(/[^A-Za-z0-9_.-]/g, '_'));
  await privateDir(dir, dataDir);
  const meta = path.join(dir, META);
  if (!existsSync(meta))
    await writeFile(meta, JSON.stringify({ run, target, createdAt: new Date().toISOString() }), { mode: 0o600 });
  return dir;
}

/** A run id as newRunId makes them (`<runbook>-<target>-<suffix>`) for `target`: how directories made before run.json are attributed. */
function legacyRunOf(name: string, target: string): boolean {
  return catalogue.some(
    ({ name: runbook }) =>
      name.startsWith(`${runbook}-${target}-`) && /^[0-9a-z]+$/.test(name.slice(runbook.length + target.length + 2)),
  );
}

async function describe(
  dataDir: string,
  root: RunFilesRoot,
  name: string,
  target: string,
): Promise<RunFiles | undefined> {
  const dir = path.join(path.resolve(dataDir, root), path.basename(name));
  const kind = root === 'work' ? 'work' : 'artifact';
  const meta = await readFile(path.join(dir, META), 'utf8').then(
    (t) => JSON.parse(t) as { run: string; target: string; createdAt: string },
    () => undefined,
  );
  if (meta) return meta.target === target ? { kind, name, run: meta.run, createdAt: meta.createdAt } : undefined;
  if (!legacyRunOf(name, target)) return undefined;
  const st = await stat(dir).catch(() => undefined);
  return st?.isDirectory() ? { kind, name, run: name, createdAt: st.mtime.toISOString() } : undefined;
}

export function createRunFileActivities(dataDir: string) {
  return {
    /** This target's run work copies and artifacts on this host (the janitor's list). */
    async listRunFiles(target: string): Promise<RunFiles[]> {
      const out: RunFiles[] = [];
      for (const root of ['work', 'artifacts'] as const) {
        for (const name of (await readdir(path.resolve(dataDir, root)).catch(() => [])).sort()) {
          const f = await describe(dataDir, root, name, target);
          if (f) out.push(f);
        }
      }
      return out;
    },

    /** Removes one run's work copy or artifacts, only if they are this target's. */
    async removeRunFiles(target: string, kind: RunFiles['kind'], name: string): Promise<{ removed: boolean }> {
      const root = kind === 'work' ? 'work' : 'artifacts';
      if (!(await describe(dataDir, root, name, target))) return { removed: false };
      await rm(path.join(path.resolve(dataDir, root), path.basename(name)), { recursive: true, force: true });
      return { removed: true };
    },
  };
}
