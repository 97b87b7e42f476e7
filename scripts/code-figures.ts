/**
 * The code's shape, from a script (the figures in issue #19's note): files and lines per folder of
 * src/, the longest functions, lines over 120 columns, and import cycles (value imports; type-only
 * imports listed apart, they cost nothing at run time).
 *   npx tsx scripts/code-figures.ts [--rev <commit> [--formatted]] [--json]
 * With --rev, the figures are of that commit (its src/ from git archive), so before and after
 * come from the same script; --formatted first runs today's Prettier over it, so line counts
 * compare like with like.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { isMain, runMain } from '../src/util/main.js';

export interface CodeFigures {
  files: number;
  lines: number;
  perFolder: Array<{ folder: string; files: number; lines: number }>;
  longestFunctions: Array<{ name: string; file: string; lines: number }>;
  over120: number;
  cycles: { value: string[][]; typeOnly: number };
}

const codeFile = /\.(ts|js|cjs|mjs)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules' || name === '__pycache__') return [];
    return statSync(full).isDirectory() ? walk(full) : codeFile.test(name) ? [full] : [];
  });
}

/** Named functions, methods and functions assigned to a name or property, with their line spans. */
function functionsOf(file: string, text: string): Array<{ name: string; lines: number }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Array<{ name: string; lines: number }> = [];
  const span = (n: ts.Node) =>
    sf.getLineAndCharacterOfPosition(n.getEnd()).line - sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (n: ts.Node) => {
    let name: string | undefined;
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) name = n.name.getText(sf);
    else if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && n.parent) {
      const p = n.parent;
      if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
        name = p.name.getText(sf);
    }
    if (name) out.push({ name, lines: span(n) });
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Relative imports of a file, resolved to files of the tree; `typeOnly` when erased at run time. */
function importsOf(file: string, text: string, known: Set<string>): Array<{ to: string; typeOnly: boolean }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const out: Array<{ to: string; typeOnly: boolean }> = [];
  for (const st of sf.statements) {
    let spec: string | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      const c = st.importClause;
      typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      spec = st.moduleSpecifier.text;
      typeOnly = st.isTypeOnly;
    }
    if (!spec?.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), spec).replace(/\.(js|ts)$/, '');
    const to = [`${base}.ts`, `${base}.js`, `${base}.cjs`, path.join(base, 'index.ts')].find((f) => known.has(f));
    if (to) out.push({ to, typeOnly });
  }
  return out;
}

/** Strongly connected components of more than one file (Tarjan): each is an import cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

export function codeFigures(root: string): CodeFigures {
  const src = path.join(root, 'src');
  const files = walk(src);
  const known = new Set(files);
  const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
  const folderOf = (f: string) => {
    const rel = path.relative(src, f).split(path.sep);
    return rel.length > 1 ? `src/${rel[0]}/` : 'src/ (root)';
  };
  const perFolder = new Map<string, { files: number; lines: number }>();
  let lines = 0;
  let over120 = 0;
  const fns: CodeFigures['longestFunctions'] = [];
  const value = new Map<string, string[]>();
  const all = new Map<string, string[]>();
  for (const [f, text] of texts) {
    const ls = text.split('\n');
    const n = text.endsWith('\n') ? ls.length - 1 : ls.length;
    lines += n;
    over120 += ls.filter((l) => l.length > 120).length;
    const pf = perFolder.get(folderOf(f)) ?? { files: 0, lines: 0 };
    perFolder.set(folderOf(f), { files: pf.files + 1, lines: pf.lines + n });
    if (/\.(ts|js)$/.test(f)) for (const fn of functionsOf(f, text)) fns.push({ ...fn, file: path.relative(root, f) });
    const imps = importsOf(f, text, known);
    value.set(
      f,
      imps.filter((i) => !i.typeOnly).map((i) => i.to),
    );
    all.set(
      f,
      imps.map((i) => i.to),
    );
  }
  const rel = (c: string[]) => c.map((f) => path.relative(root, f));
  const valueCycles = cycles(value).map(rel);
  return {
    files: files.length,
    lines,
    perFolder: [...perFolder].map(([folder, v]) => ({ folder, ...v })).sort((a, b) => b.lines - a.lines),
    longestFunctions: fns.sort((a, b) => b.lines - a.lines).slice(0, 10),
    over120,
    cycles: { value: valueCycles, typeOnly: cycles(all).length - valueCycles.length },
  };
}

export function formatFigures(label: string, f: CodeFigures): string {
  return [
    `## ${label}`,
    `${f.files} files, ${f.lines} lines under src/; ${f.over120} lines over 120 columns.`,
    '',
    '| folder | files | lines |',
    '|---|---|---|',
    ...f.perFolder.map((p) => `| ${p.folder} | ${p.files} | ${p.lines} |`),
    '',
    'Longest functions (lines): ' + f.longestFunctions.map((fn) => `${fn.name} ${fn.lines} (${fn.file})`).join('; '),
    '',
    `Import cycles (value imports): ${f.cycles.value.length}${f.cycles.value.map((c) => `\n- ${c.join(' → ')}`).join('')}`,
    `Further cycles through type-only imports: ${f.cycles.typeOnly}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rev: { type: 'string' }, formatted: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const repo = path.resolve(import.meta.dirname, '..');
  let root = repo;
  if (values.rev) {
    root = mkdtempSync(path.join(tmpdir(), 'code-figures-'));
    execFileSync('sh', ['-c', `git -C "${repo}" archive "${values.rev}" src | tar -x -C "${root}"`]);
    if (values.formatted)
      execFileSync(
        path.join(repo, 'node_modules/.bin/prettier'),
        ['--config', path.join(repo, '.prettierrc.json'), '--log-level', 'warn', '--write', 'src/**/*.{ts,js,cjs}'],
        { cwd: root },
      );
  }
  try {
    const figures = codeFigures(root);
    console.log(
      values.json
        ? JSON.stringify(figures, null, 2)
        : formatFigures(values.rev ? `${values.rev}${values.formatted ? ', formatted' : ''}` : 'working tree', figures),
    );
  } finally {
    if (values.rev) rmSync(root, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) runMain(main);
