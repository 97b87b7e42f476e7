import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * `runbook new <name>`: a new runbook's folder (definition, steps, workflow, texts), its test, and
 * its lines in the catalogue and the worker's workflow list, from the templates beside this file.
 * Everything is checked before anything is written: a refused name leaves the tree as it was.
 */

const templates = path.join(import.meta.dirname, 'templates');

/** The runbook's files: where each goes (from the project root) and the template it comes from. */
const files = [
  ['src/runbooks/{{name}}/definition.ts', 'definition.ts.tmpl'],
  ['src/runbooks/{{name}}/steps.ts', 'steps.ts.tmpl'],
  ['src/runbooks/{{name}}/texts.ts', 'texts.ts.tmpl'],
  ['src/runbooks/{{name}}/workflow.ts', 'workflow.ts.tmpl'],
  ['test/{{name}}.test.ts', 'test.ts.tmpl'],
] as const;

const CATALOGUE = 'src/runbooks/catalogue.ts';
const README = 'README.md';
const WORKFLOWS = 'src/workflows/index.ts';

export class ScaffoldError extends Error {
  override name = 'ScaffoldError';
}

export interface Scaffolded {
  name: string;
  workflowType: string;
  /** Paths from the project root, in the order written. */
  created: string[];
  updated: string[];
  next: string[];
}

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const fill = (text: string, vars: Record<string, string>) =>
  text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => vars[key] ?? whole);

/** Scaffolds runbook `name` in the project at `root` (the directory holding src/runbooks). */
export function scaffoldRunbook(root: string, name: string): Scaffolded {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name))
    throw new ScaffoldError(
      `"${name}" is not a runbook name: use kebab-case, lower-case letters and digits joined by single hyphens (e.g. redis-health).`,
    );
  if (!existsSync(path.join(root, CATALOGUE)))
    throw new ScaffoldError(
      `${root} has no ${CATALOGUE}: run \`runbook new\` from the project's root (or give --dir).`,
    );
  const workflowType = camel(name);
  const vars = { name, workflowType, Type: workflowType[0]!.toUpperCase() + workflowType.slice(1) };
  const folder = path.join(root, 'src/runbooks', name);
  if (existsSync(folder))
    throw new ScaffoldError(
      `src/runbooks/${name} already exists: pick another name, or change that runbook (docs/authoring.md).`,
    );
  const catalogue = readFileSync(path.join(root, CATALOGUE), 'utf8');
  const workflows = readFileSync(path.join(root, WORKFLOWS), 'utf8');
  if (
    new RegExp(`export \\{ ${workflowType} \\}`).test(workflows) ||
    new RegExp(`\\b${workflowType}\\b`).test(catalogue)
  )
    throw new ScaffoldError(
      `The workflow type ${workflowType} is already taken in ${WORKFLOWS} or ${CATALOGUE}: pick another name.`,
    );
  const planned = files.map(([to, from]) => ({
    to: fill(to, vars),
    text: fill(readFileSync(path.join(templates, from), 'utf8'), vars),
  }));
  for (const f of planned)
    if (existsSync(path.join(root, f.to))) throw new ScaffoldError(`${f.to} already exists: pick another name.`);
  // Both lists computed before any write: a list not in the expected shape refuses the whole scaffold.
  const newCatalogue = addToCatalogue(catalogue, name, workflowType);
  const newWorkflows = addSortedLine(
    workflows,
    /^export \{ \w+ \} from '\.\.\/runbooks\/([a-z0-9-]+)\/workflow\.js';$/,
    name,
    `export { ${workflowType} } from '../runbooks/${name}/workflow.js';`,
    WORKFLOWS,
  );

  const readmePath = path.join(root, README);
  const newReadme = existsSync(readmePath) ? addToReadme(readFileSync(readmePath, 'utf8'), name) : undefined;

  mkdirSync(folder, { recursive: true });
  for (const f of planned) writeFileSync(path.join(root, f.to), f.text);
  writeFileSync(path.join(root, CATALOGUE), newCatalogue);
  writeFileSync(path.join(root, WORKFLOWS), newWorkflows);
  if (newReadme !== undefined) writeFileSync(readmePath, newReadme);
  return {
    name,
    workflowType,
    created: planned.map((f) => f.to),
    updated: [CATALOGUE, WORKFLOWS, ...(newReadme !== undefined ? [README] : [])],
    next: [
      `Write the procedure in src/runbooks/${name}/steps.ts, one step or gate a line (docs/authoring.md walks through it).`,
      `Put what touches the target in an activity under src/activities/ (a file named for what it touches), registered in src/activities/index.ts; call it from workflow.ts with rb.step.`,
      `Describe the runbook and its input in definition.ts, its summary lines in texts.ts, and replace the TODO of its row in the README's runbook table (test/unit/catalogue.test.ts holds the table to the catalogue).`,
      `Run its test: npx vitest run test/${name}.test.ts (then npx tsc --noEmit -p . and npx eslint src/runbooks/${name} test/${name}.test.ts).`,
      `Record its replay history: add a run of ${name} to scripts/record-histories.ts (saved as ${name}-completed), run npx tsx scripts/record-histories.ts --only ${name}, commit test/histories/${name}-completed.json; npx vitest run test/replay.test.ts replays it.`,
      `Check the manual fallback: npx runbook print ${name}.`,
    ],
  };
}

/** A row for the new runbook at the end of the README's runbook table ("no": a scaffold changes nothing). */
function addToReadme(text: string, name: string): string {
  const lines = text.split('\n');
  const heading = lines.indexOf('## Runbooks');
  let last = lines.findIndex((l, i) => i > heading && l.startsWith('|'));
  if (heading < 0 || last < 0)
    throw new ScaffoldError(
      `${README} has no "## Runbooks" table as \`runbook new\` expects: add ${name} to it by hand.`,
    );
  while (lines[last + 1]?.startsWith('|')) last++;
  lines.splice(
    last + 1,
    0,
    `| \`${name}\` | TODO: what it checks or does, for the engineer on call (docs/authoring.md). | no |`,
  );
  return lines.join('\n');
}

/** Adds the definition's import and its catalogue entry, each in folder order, as the file lists them. */
function addToCatalogue(text: string, name: string, alias: string): string {
  const importLine = /^import \{ definition as (\w+) \} from '\.\/([a-z0-9-]+)\/definition\.js';$/;
  const lines = text.split('\n');
  const imports = lines.flatMap((l) => {
    const m = importLine.exec(l);
    return m ? [{ alias: m[1]!, folder: m[2]! }] : [];
  });
  const start = lines.indexOf('export const catalogue: RunbookDefinition[] = [');
  const end = lines.indexOf('];', start);
  const entries = start < 0 || end < 0 ? [] : lines.slice(start + 1, end).map((l) => l.trim().replace(/,$/, ''));
  if (imports.length === 0 || entries.join() !== imports.map((i) => i.alias).join())
    throw new ScaffoldError(
      `${CATALOGUE} does not list its definitions as \`runbook new\` expects (one import a runbook, the catalogue array in the same order): add ${name} by hand.`,
    );
  const at = imports.findIndex((i) => i.folder > name);
  const position = at < 0 ? imports.length : at;
  const withImport = addSortedLine(
    text,
    importLine,
    name,
    `import { definition as ${alias} } from './${name}/definition.js';`,
    CATALOGUE,
    2,
  );
  const out = withImport.split('\n');
  out.splice(out.indexOf('export const catalogue: RunbookDefinition[] = [') + 1 + position, 0, `  ${alias},`);
  return out.join('\n');
}

/** Inserts `line` among the lines matching `pattern`, ordered by the name the pattern captures (group `group`). */
function addSortedLine(text: string, pattern: RegExp, name: string, line: string, file: string, group = 1): string {
  const lines = text.split('\n');
  const matching = lines.flatMap((l, i) => {
    const m = pattern.exec(l);
    return m ? [{ i, name: m[group]! }] : [];
  });
  if (matching.length === 0)
    throw new ScaffoldError(`${file} has no runbook lines where \`runbook new\` expects them: add ${name} by hand.`);
  const after = matching.find((m) => m.name > name);
  lines.splice(after ? after.i : matching[matching.length - 1]!.i + 1, 0, line);
  return lines.join('\n');
}

/** What `runbook new` prints: what it wrote, and what to do next. */
export function describeScaffold(s: Scaffolded): string {
  return [
    `Runbook ${s.name} (workflow type ${s.workflowType}):`,
    ...s.created.map((f) => `  created ${f}`),
    ...s.updated.map((f) => `  updated ${f}`),
    '',
    'Next:',
    ...s.next.map((n, i) => `  ${i + 1}. ${n}`),
  ].join('\n');
}
