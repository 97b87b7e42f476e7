import { readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { compiledBuild } from './harness.js';
import { log, median, spread } from './stats.js';

/**
 * What the worker's idle memory and per-start work are made of (bench/RESULTS.md, "Approval path
 * as ratios to bare Temporal"), from the compiled build:
 * - RSS after a full collection of a fresh node that imports only the Temporal worker SDK, then
 *   also our compiled activities, then also our compiled worker module: the sets interleaved in
 *   each repetition, median and spread;
 * - the size of each prebuilt workflow bundle (loaded into every worker's workflow context);
 * - what an approval-drill run does before its gate, counted in a kept history.
 *   npx tsx bench/worker-footprint.ts [--repeat 5] [--dist DIR]
 */
const arg = (name: string) =>
  process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined;
const repeat = Number(arg('repeat') ?? 5);
const scratch = path.join(os.tmpdir(), `runbooks-footprint-${process.pid}`);
const dist = arg('dist') ?? (await compiledBuild(scratch));
const url = (f: string) => pathToFileURL(path.join(dist, f)).href;
const sets: Array<[string, string[]]> = [
  ['@temporalio/worker alone', ['@temporalio/worker']],
  ['+ our compiled activities', ['@temporalio/worker', url('activities/index.js')]],
  ['+ our compiled worker module', ['@temporalio/worker', url('activities/index.js'), url('worker.js')]],
];

async function rssAfterImports(modules: string[]): Promise<number> {
  const code = `for (const m of ${JSON.stringify(modules)}) await import(m);
    await new Promise((r) => setTimeout(r, 300)); globalThis.gc(); await new Promise((r) => setTimeout(r, 300));
    console.log(process.memoryUsage().rss);`;
  const { stdout } = await execa('node', ['--expose-gc', '--input-type=module', '-e', code], {
    cwd: path.dirname(dist),
  });
  return Number(stdout.trim()) / 2 ** 20;
}

const rss = new Map<string, number[]>(sets.map(([name]) => [name, []]));
for (let i = 0; i < repeat; i++) {
  // Each repetition measures every set, in a rotated order.
  for (let k = 0; k < sets.length; k++) {
    const [name, modules] = sets[(i + k) % sets.length]!;
    rss.get(name)!.push(await rssAfterImports(modules));
  }
  log(`repetition ${i + 1}/${repeat} done`);
}

console.log(
  `### Worker footprint (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, Node ${process.version})\n`,
);
console.log(
  `Command: \`npx tsx bench/worker-footprint.ts --repeat ${repeat}${arg('dist') ? ' --dist …' : ''}\`. Each set in a fresh \`node --expose-gc\`, RSS after a full collection; sets rotated within each repetition.\n`,
);
console.log('| modules imported | RSS, median [min–max] |\n|---|---|');
for (const [name] of sets)
  console.log(`| ${name} | ${median(rss.get(name)!).toFixed(0)} MB ${spread(rss.get(name)!)} |`);
console.log('\n| prebuilt workflow bundle | size |\n|---|---|');
for (const file of ['workflow-bundle.js', 'workflow-bundle.encrypted.js'])
  console.log(`| ${file} | ${(statSync(path.join(dist, file)).size / 2 ** 20).toFixed(1)} MB |`);

// Before its gate: what the worker and the server do for one start (a kept history, recorded by test/tracing.test.ts).
const history = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '..', 'test/histories/approval-drill-traced.json'), 'utf8'),
) as {
  events: Array<{ eventType: string; activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }>;
};
const gateAt = history.events.findIndex((e) => e.eventType === 'EVENT_TYPE_TIMER_STARTED'); // the gate's deadline timer
const before = history.events.slice(0, gateAt + 1);
const count = (t: string) => before.filter((e) => e.eventType === t).length;
const activities = before.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
console.log(
  `\napproval-drill before its gate (test/histories/approval-drill-traced.json): ${before.length} events, ${count('EVENT_TYPE_WORKFLOW_TASK_COMPLETED')} workflow tasks, ${activities.length} activities (${activities.join(', ')}), ${count('EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES')} search-attribute upserts.`,
);

if (!arg('dist')) rmSync(scratch, { recursive: true, force: true });
