/**
 * `npm run build`: the worker, API and CLI as JavaScript in dist/, run with plain `node` (no tsx):
 *   1. tsc (tsconfig.build.json): src/x.ts → dist/x.js, same tree;
 *   2. every other file under src/ (Python helpers, the console, the failure converter) copied to
 *      the same place in dist/, so the code's `new URL('./…', import.meta.url)` finds it unchanged;
 *   3. the workflow bundles beside dist/worker.js, plain and encrypted (see prebuiltBundles).
 *   npx tsx scripts/build.ts [--out-dir dist]
 */
import { cpSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { execa } from 'execa';
import { isMain, runMain } from '../src/util/main.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';
import { prebuiltBundles } from '../src/worker.js';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

export async function build(outDir: string, log: (line: string) => void = console.log): Promise<void> {
  const t0 = Date.now();
  clean(outDir);
  await execa('tsc', ['-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], {
    cwd: root,
    preferLocal: true,
    stdio: 'inherit',
  });
  log(`tsc → ${outDir} (${seconds(t0)})`);
  cpSync(src, outDir, { recursive: true, filter: (f) => !f.endsWith('.ts') && path.basename(f) !== '__pycache__' });
  const workflowsPath = path.join(outDir, 'workflows/index.js');
  // From dist/ as well: the bundle must not reach back into src/.
  const interceptorModules = workflowInterceptorModules.map((m) =>
    path.join(outDir, path.relative(src, m)).replace(/\.ts$/, '.js'),
  );
  const failureConverterPath = path.join(outDir, 'failure-converter.cjs');
  const quiet = { trace: noop, debug: noop, info: noop, log: noop, warn: console.warn, error: console.error };
  for (const [kind, file] of Object.entries(prebuiltBundles)) {
    const t = Date.now();
    const { code } = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: interceptorModules,
      logger: quiet,
      ...(kind === 'encrypted' ? { failureConverterPath } : {}),
    });
    writeFileSync(path.join(outDir, file), code);
    log(`workflow bundle → ${path.join(outDir, file)} (${seconds(t)})`);
  }
  log(
    `Built in ${seconds(t0)}: node ${path.relative(process.cwd(), path.join(outDir, 'worker.js'))} (or api/main.js, cli.js)`,
  );
}

/** Empties a previous build (stale modules would linger); refuses a directory that is not one. */
function clean(outDir: string): void {
  if (!existsSync(outDir)) return;
  const entries = readdirSync(outDir);
  if (entries.length > 0 && !entries.includes('worker.js')) {
    throw new Error(
      `${outDir} is not empty and holds no worker.js, so it is not an earlier build: pick another --out-dir, or empty it yourself.`,
    );
  }
  rmSync(outDir, { recursive: true, force: true });
}

const noop = () => undefined;
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: path.join(root, 'dist') } } });
    await build(path.resolve(values['out-dir']));
  });
}
