import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The crash-test table of bench/RESULTS.md, from the result files `npm run chaos` leaves in
 * .data/chaos/<runbook>.json (test/chaos/suite.ts): per scenario, the uninterrupted run, the points
 * tried, those where the worker was really killed, how many ended equal to the uninterrupted run,
 * the ones that differ or were never reached, and the points' total time.
 *   npx tsx bench/chaos-table.ts [dir]
 */
interface Result {
  point: string;
  killed: boolean;
  seconds: number;
  differences: string[];
}
interface File {
  baseline: { outcome?: string; activities: string[] };
  points: number;
  results: Result[];
}

const dir = process.argv[2] ?? path.join(import.meta.dirname, '..', '.data', 'chaos');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
if (files.length === 0) throw new Error(`No results in ${dir}: run npm run chaos first.`);
console.log(
  '| scenario (uninterrupted outcome) | activities / points in the run | points tried | worker killed | equal to the uninterrupted run | differs | not reached | time of the points (sum) |',
);
console.log('|---|---|---|---|---|---|---|---|');
let tried = 0;
let bad = 0;
for (const f of files) {
  const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as File;
  const killed = r.results.filter((x) => x.killed);
  const equal = killed.filter((x) => x.differences.length === 0);
  const differs = r.results.filter((x) => x.differences.length > 0);
  const unreached = r.results.filter((x) => !x.killed);
  tried += r.results.length;
  bad += differs.length + unreached.length;
  const list = (xs: Result[]) => (xs.length ? xs.map((x) => `\`${x.point}\``).join(', ') : '—');
  console.log(
    `| ${path.basename(f, '.json')} (${r.baseline.outcome ?? '?'}) | ${r.baseline.activities.length} / ${r.points} | ${r.results.length} | ${killed.length} | ${equal.length} of ${killed.length} | ${list(differs)} | ${list(unreached)} | ${r.results.reduce((n, x) => n + x.seconds, 0)} s |`,
  );
}
console.log(`\n${tried} points, ${bad} differing or not reached.`);
