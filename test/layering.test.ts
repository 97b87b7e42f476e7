import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from './support/harness.js';

// Callers (the CLI, the API) hold no activity code and no worker: only the worker touches targets.
// Each entry is imported in a fresh Node process whose module resolutions are recorded by a loader hook.
async function modulesLoadedBy(entry: string): Promise<string[]> {
  const dir = tmpDir('modules-');
  const out = path.join(dir, 'loaded.txt');
  writeFileSync(path.join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, r.url + '\\n');
  return r;
}`);
  writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
  writeFileSync(out, '');
  await execa('node', ['--import', 'tsx', '--import', path.join(dir, 'register.mjs'), '-e', `await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, entry)).href)})`], { cwd: repoRoot });
  const root = pathToFileURL(repoRoot).href + '/';
  return [...new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean))].map((u) => u.replace(root, ''));
}

describe('what the callers load', () => {
  for (const entry of ['src/cli.ts', 'src/api/main.ts']) {
    it(`${entry} loads no activity module, no worker, not the Temporal worker SDK`, async () => {
      const loaded = await modulesLoadedBy(entry);
      expect(loaded).toContain(entry); // the recorder saw the entry itself
      expect(loaded).toContain('src/client.ts');
      expect(loaded.filter((m) => m.startsWith('src/activities/') || ['src/worker.ts', 'src/preflight.ts'].includes(m) || m.includes('node_modules/@temporalio/worker/'))).toEqual([]);
    });
  }
});
