import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from './support/harness.js';

// Callers (the CLI, the API) hold no activity code and no worker: only the worker touches targets.
// Each entry is imported in a fresh Node process whose module resolutions are recorded by a loader hook.
async function modulesLoadedBy(entry: string): Promise<string[]> {
  const dir = tmpDir('modules-');
  const out = path.join(dir, 'loaded.txt');
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, r.url + '\\n');
  return r;
}`,
  );
  writeFileSync(
    path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`,
  );
  writeFileSync(out, '');
  await execa(
    'node',
    [
      '--import',
      'tsx',
      '--import',
      path.join(dir, 'register.mjs'),
      '-e',
      `await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, entry)).href)})`,
    ],
    { cwd: repoRoot },
  );
  const root = pathToFileURL(repoRoot).href + '/';
  return [...new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean))].map((u) => u.replace(root, ''));
}

describe('what the callers load', () => {
  for (const entry of ['src/cli.ts', 'src/api/main.ts']) {
    it(`${entry} loads no activity module, no worker, not the Temporal worker SDK`, async () => {
      const loaded = await modulesLoadedBy(entry);
      expect(loaded).toContain(entry); // the recorder saw the entry itself
      expect(loaded).toContain('src/client.ts');
      expect(
        loaded.filter(
          (m) =>
            m.startsWith('src/activities/') ||
            ['src/worker.ts', 'src/preflight.ts'].includes(m) ||
            m.includes('node_modules/@temporalio/worker/'),
        ),
      ).toEqual([]);
      // Nor workflow code: the contract (src/contract, the catalogue and definitions) is what they share with the worker.
      expect(
        loaded.filter((m) => /^src\/(engine|workflows)\/|^src\/runbooks\/[^/]+\/(workflow|texts)\.ts$/.test(m)),
      ).toEqual([]);
      expect(loaded).toContain('src/runbooks/catalogue.ts');
    });
  }
});

describe('npm run lint enforces the boundaries', () => {
  // The project's own ESLint config, on code a careless change would write, linted as if it were in that file.
  const cases: Array<{ file: string; code: string; refused: RegExp }> = [
    {
      file: 'src/cli.ts',
      code: "import { createActivities } from './activities/index.js';\nexport const a = createActivities;\n",
      refused: /Callers do not load activities/,
    },
    {
      file: 'src/api/server.ts',
      code: "import { runbook } from '../engine/runbook.js';\nexport const r = runbook;\n",
      refused: /Callers do not load workflow code/,
    },
    {
      file: 'src/client.ts',
      code: "import { Worker } from '@temporalio/worker';\nexport const w = Worker;\n",
      refused: /Callers do not load the worker/,
    },
    {
      file: 'src/runbooks/db-access/workflow.ts',
      code: "import { definition } from './definition.js';\nexport const d = definition;\n",
      refused: /runbook definitions as types only/,
    },
    {
      file: 'src/runbooks/db-access/workflow.ts',
      code: "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
      refused: /node:fs/,
    },
    {
      file: 'src/engine/journal.ts',
      code: "import { pgPing } from '../activities/postgres.js';\nexport const p = pgPing;\n",
      refused: /Import activities as types only/,
    },
    {
      file: 'src/contract/messages.ts',
      code: "import { z } from 'zod';\nexport const s = z.string();\n",
      refused: /runbook definitions as types only/,
    },
    {
      file: 'src/activities/postgres.ts',
      code: "import { runbook } from '../engine/runbook.js';\nexport const r = runbook;\n",
      refused: /Activities do not load workflow code/,
    },
    {
      file: 'src/contract/types.ts',
      code: "import { loadConfig } from '../config.js';\nexport const c = loadConfig;\n",
      refused: /The contract imports only the contract/,
    },
  ];
  for (const c of cases) {
    it(`refuses in ${c.file}: ${c.code.split('\n')[0]}`, async () => {
      const [result] = await new ESLint({ cwd: repoRoot }).lintText(c.code, { filePath: path.join(repoRoot, c.file) });
      expect(
        result!.messages
          .filter((m) => m.ruleId === 'no-restricted-imports')
          .map((m) => m.message)
          .join('\n'),
      ).toMatch(c.refused);
    }, 300_000);
  }

  it('accepts the same imports as types, where the rule allows types', async () => {
    const [result] = await new ESLint({ cwd: repoRoot }).lintText(
      "import type { DbAccessInput } from './definition.js';\nexport type I = DbAccessInput;\n",
      { filePath: path.join(repoRoot, 'src/runbooks/db-access/workflow.ts') },
    );
    expect(result!.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  }, 300_000);
});
