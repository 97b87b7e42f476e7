import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeFigures } from '../../scripts/code-figures.js';
import { tmpDir } from '../support/harness.js';

function tree(files: Record<string, string>): string {
  const root = tmpDir('figures-');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('scripts/code-figures.ts', () => {
  it('counts files and lines per folder, long lines and the longest functions', () => {
    const f = codeFigures(
      tree({
        'src/a/one.ts': `export function short() {\n  return 1;\n}\nexport const long = () => {\n  const x = 1;\n  const y = 2;\n  return x + y;\n};\n`,
        'src/two.ts': `export const s = '${'x'.repeat(130)}';\n`,
      }),
    );
    expect(f).toMatchObject({ files: 2, lines: 9, over120: 1 });
    expect(f.perFolder).toEqual([
      { folder: 'src/a/', files: 1, lines: 8 },
      { folder: 'src/ (root)', files: 1, lines: 1 },
    ]);
    expect(f.longestFunctions.slice(0, 2)).toEqual([
      { name: 'long', file: 'src/a/one.ts', lines: 5 },
      { name: 'short', file: 'src/a/one.ts', lines: 3 },
    ]);
  });

  it('finds an import cycle through value imports, and counts one through type-only imports apart', () => {
    const f = codeFigures(
      tree({
        'src/a.ts': `import { b } from './b.js';\nexport const a = () => b;\n`,
        'src/b.ts': `import { a } from './a.js';\nexport const b = () => a;\n`,
        'src/c.ts': `import type { D } from './d.js';\nexport type C = D;\n`,
        'src/d.ts': `import { type C } from './c.js';\nexport type D = C | 1;\n`,
      }),
    );
    expect(f.cycles).toEqual({ value: [['src/a.ts', 'src/b.ts']], typeOnly: 1 });
  });
});
