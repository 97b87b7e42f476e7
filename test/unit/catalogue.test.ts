import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogue, findRunbook } from '../../src/runbooks/catalogue.js';
import * as workflows from '../../src/workflows/index.js';

const runbooksDir = path.resolve(import.meta.dirname, '../../src/runbooks');
const folders = readdirSync(runbooksDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'shared')
  .map((d) => d.name);

describe('the catalogue is the runbook folders', () => {
  it('lists every folder under src/runbooks once, and nothing else', () => {
    expect(catalogue.map((d) => d.name).sort()).toEqual([...folders].sort());
  });

  it("gives the worker each runbook's workflow, from its own folder, under its workflow type", async () => {
    for (const def of catalogue) {
      const own = (await import(`../../src/runbooks/${def.name}/workflow.ts`)) as Record<string, unknown>;
      expect(typeof own[def.workflowType], def.name).toBe('function');
      expect((workflows as Record<string, unknown>)[def.workflowType], def.name).toBe(own[def.workflowType]);
    }
  });

  it('derives the gates and "changes its target" from the steps', () => {
    const migration = findRunbook('migration-failed');
    expect(migration.gates).toEqual(['freeze-writes', 'downgrade', 'restore', 'reapply']);
    expect(migration.mutates).toBe(true);
    // approval-drill takes the lock only with takeLock: a drill, not a change.
    expect(findRunbook('approval-drill').mutates).toBe(false);
    expect(findRunbook('db-access')).toMatchObject({ gates: [], mutates: false });
    for (const def of catalogue) {
      expect(new Set(def.steps.map((s) => s.id)).size, `${def.name}: a step or gate id twice`).toBe(def.steps.length);
      if (def.mutates) expect(def.gates.length, `${def.name} changes its target with no gate`).toBeGreaterThan(0);
    }
  });
});

describe("README's runbook table", () => {
  it('lists every runbook of the catalogue once, and says "yes" (behind gates) for exactly the ones that change their target', () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Runbooks\n'), readme.indexOf('### Run status'));
    const rows = [...table.matchAll(/^\| `([a-z-]+)` \|.*\| ([^|]+) \|$/gm)].map((m) => ({
      name: m[1]!,
      changes: m[2]!.trim(),
    }));
    expect(rows.map((r) => r.name).sort()).toEqual(catalogue.map((d) => d.name).sort());
    for (const def of catalogue)
      expect(rows.find((r) => r.name === def.name)!.changes.startsWith('yes'), def.name).toBe(def.mutates);
  });
});
