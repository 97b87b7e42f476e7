/**
 * `npm run build`: the worker, API and CLI as JavaScript in dist/, run with plain `node` (no tsx):
 *   1. tsc (tsconfig.build.json): src/x.ts → dist/x.js, same tree;
 *   2. every other file under src/ (Python helpers, the console, the failure converter) copied to
 *      the same place in dist/, so the code's `new URL('./…', import.meta.url)` finds it unchanged;
 *   3. the workflow bundles beside dist/worker.js, plain and encrypted (see prebuiltBundles), made
 *      smaller in memory by compactBundle.
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
    writeFileSync(path.join(outDir, file), compactBundle(code));
    log(`workflow bundle → ${path.join(outDir, file)} (${seconds(t)})`);
  }
  log(
    `Built in ${seconds(t0)}: node ${path.relative(process.cwd(), path.join(outDir, 'worker.js'))} (or api/main.js, cli.js)`,
  );
}

const sourceMapTag = '//# sourceMappingURL=data:application/json;charset=utf-8;base64,';

/**
 * The same workflow code, held in less memory by every worker (bench/RESULTS.md, "Profile of the worker"):
 * each of the worker's two isolates keeps the whole bundle text, source map included, as one string.
 * - The inline source map keeps its mappings (stack traces still name our source files and lines) but
 *   loses `sourcesContent`, the sources' full text, which the SDK reads only for `showStackTraceSources`
 *   (off here): 2.6 of the bundle's 4.2 MB.
 * - Characters outside ASCII (arrows and dashes in prompts, in comments) become `\uXXXX` escapes, the
 *   same strings to JavaScript: one such character makes V8 store the whole text two bytes a character.
 *   Columns on those lines shift in stack traces; lines do not.
 */
export function compactBundle(code: string): string {
  const at = code.lastIndexOf(sourceMapTag);
  if (at < 0)
    throw new Error('The workflow bundle has no inline source map: did bundleWorkflowCode change its output?');
  const map = JSON.parse(Buffer.from(code.slice(at + sourceMapTag.length).trim(), 'base64').toString()) as {
    sourcesContent?: unknown;
  };
  delete map.sourcesContent;
  const body = code.slice(0, at).replace(/[\u0080-\uffff]/g, (c, i: number) => {
    // `\é` (an escaped non-ASCII character) would turn into an escaped backslash: refuse rather than change code.
    if (code[i - 1] === '\\')
      throw new Error(`The workflow bundle has a backslash before "${c}" at ${i}: not escaped.`);
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `${body}${sourceMapTag}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
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
