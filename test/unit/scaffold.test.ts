import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scaffoldRunbook } from '../../src/scaffold/scaffold.js';

const repo = path.resolve(import.meta.dirname, '../..');

/** A project root with the two lists `runbook new` edits and one runbook folder, as the repository has them. */
function project(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'scaffold-unit-'));
  for (const f of ['src/runbooks/catalogue.ts', 'src/workflows/index.ts']) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    cpSync(path.join(repo, f), path.join(root, f));
  }
  cpSync(path.join(repo, 'src/runbooks/db-access'), path.join(root, 'src/runbooks/db-access'), { recursive: true });
  mkdirSync(path.join(root, 'test'));
  return root;
}

function tree(root: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const p = path.join(e.parentPath, e.name);
        return [path.relative(root, p), readFileSync(p, 'utf8')];
      }),
  );
}

const read = (root: string, f: string) => readFileSync(path.join(root, f), 'utf8');
const runbookLines = (text: string, pattern: RegExp) =>
  text.split('\n').flatMap((l) => {
    const m = pattern.exec(l);
    return m ? [m[1]!] : [];
  });

describe('runbook new', () => {
  it.each([
    ['Redis-Health', 'is not a runbook name: use kebab-case'],
    ['redis_health', 'is not a runbook name: use kebab-case'],
    ['redis--health', 'is not a runbook name: use kebab-case'],
    ['-redis', 'is not a runbook name: use kebab-case'],
    ['../escape', 'is not a runbook name: use kebab-case'],
    ['db-access', 'src/runbooks/db-access already exists: pick another name'],
    ['target-lock', 'The workflow type targetLock is already taken'],
  ])('refuses %s, saying why, and writes nothing', (name, why) => {
    const root = project();
    const before = tree(root);
    expect(() => scaffoldRunbook(root, name)).toThrow(why);
    expect(tree(root)).toEqual(before);
  });

  it("adds a TODO row to the README's runbook table, after its last row, and refuses a README without the table", () => {
    const root = project();
    cpSync(path.join(repo, 'README.md'), path.join(root, 'README.md'));
    const done = scaffoldRunbook(root, 'cache-health');
    expect(done.updated).toContain('README.md');
    const tableRows = (text: string) =>
      text
        .slice(text.indexOf('## Runbooks\n'), text.indexOf('### Run status'))
        .split('\n')
        .filter((l) => /^\| `[a-z-]+` \|/.test(l));
    const rows = tableRows(read(root, 'README.md'));
    expect(rows.at(-1)).toBe(
      '| `cache-health` | TODO: what it checks or does, for the engineer on call (docs/authoring.md). | no |',
    );
    expect(rows).toHaveLength(tableRows(read(repo, 'README.md')).length + 1);

    const bare = project();
    writeFileSync(path.join(bare, 'README.md'), '# A project\n');
    const before = tree(bare);
    expect(() => scaffoldRunbook(bare, 'cache-health')).toThrow('has no "## Runbooks" table');
    expect(tree(bare)).toEqual(before);
  });

  it('refuses, writing nothing, when the catalogue is not in the shape it edits', () => {
    const root = project();
    const file = path.join(root, 'src/runbooks/catalogue.ts');
    writeFileSync(file, read(root, 'src/runbooks/catalogue.ts').replace('  dbAccess,\n', ''));
    const before = tree(root);
    expect(() => scaffoldRunbook(root, 'cache-health')).toThrow('add cache-health by hand');
    expect(tree(root)).toEqual(before);
  });

  it.each(['aaa-first', 'm-middle', 'zzz-last'])(
    'writes the folder and test for %s and keeps both lists sorted',
    (name) => {
      const root = project();
      const done = scaffoldRunbook(root, name);
      for (const f of ['definition', 'steps', 'texts', 'workflow'])
        expect(existsSync(path.join(root, `src/runbooks/${name}/${f}.ts`))).toBe(true);
      expect(done.created).toContain(`test/${name}.test.ts`);
      const catalogue = read(root, 'src/runbooks/catalogue.ts');
      const folders = runbookLines(catalogue, /^import \{ definition as \w+ \} from '\.\/([a-z0-9-]+)\//);
      expect(folders).toContain(name);
      expect(folders).toEqual([...folders].sort());
      const aliases = runbookLines(catalogue, /^import \{ definition as (\w+) \}/);
      const entries = runbookLines(catalogue.slice(catalogue.indexOf('= [')), /^ {2}(\w+),$/);
      expect(entries).toEqual(aliases); // the array in the imports' order
      const workflows = runbookLines(
        read(root, 'src/workflows/index.ts'),
        /^export \{ \w+ \} from '\.\.\/runbooks\/([a-z0-9-]+)\//,
      );
      expect(workflows).toEqual(folders);
      expect(read(root, `src/runbooks/${name}/definition.ts`)).toContain(`workflowType: '${done.workflowType}'`);
      expect(done.next.join('\n')).toContain(`npx tsx scripts/record-histories.ts --only ${name}`);
    },
  );
});
