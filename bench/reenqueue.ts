/**
 * Re-enqueue throughput of stuck-imports vs what an engineer would write by hand: a plain loop of
 * the app's own `apply_async` over the stuck ids. Same items, same broker, same machine,
 * interleaved repetitions; the broker queue is emptied between runs (no Celery worker consumes).
 *
 *   npx tsx bench/reenqueue.ts [--items 100000] [--repeat 5] [--batch 1000]
 *
 * The runbook side calls the worker's own activity code in this process (ledger row per item
 * committed before its publish, one publisher process per run, a heartbeat per batch).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import pg from 'pg';
import { stringify } from 'yaml';
import { createImportsActivities } from '../src/activities/imports.js';
import { TargetRegistry } from '../src/targets.js';
import { log, median, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '100000' },
    repeat: { type: 'string', default: '5' },
    batch: { type: 'string', default: '1000' },
  },
});
const items = Number(values.items);
const repeat = Number(values.repeat);
const batch = Number(values.batch);
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const db = `bench_imports_${Date.now().toString(36)}`;
const brokerDb = 13;
const broker = `redis://127.0.0.1:6379/${brokerDb}`;
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
const dir = path.join(os.tmpdir(), `bench-reenqueue-${Date.now()}`);

async function q(database: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

await execa('mkdir', ['-p', dir]);
await q('postgres', `create database ${db}`);
await execa('/usr/bin/python3', ['-m', 'alembic', 'upgrade', '0004_imports_payments'], {
  cwd: app,
  env: { DATABASE_URL: `postgresql+psycopg2://postgres@127.0.0.1:5432/${db}` },
});
await q(db, `insert into import_batches (tenant_id, status) values (1, 'processing')`);
await q(
  db,
  `insert into import_items (batch_id, payload, status, updated_at) select (select max(id) from import_batches), 'bench-' || g, 'queued', now() - interval '1 hour' from generate_series(1, ${items}) g`,
);
const ids = (await q(db, `select id from import_items where payload like 'bench-%' order by id`)).rows.map(
  (r: { id: number }) => r.id,
);
const redis = new Redis(broker);
await redis.flushdb();
const targetsFile = path.join(dir, 'targets.yaml');
writeFileSync(
  targetsFile,
  stringify({
    targets: {
      bench: {
        postgres: { ...PG, database: db },
        redis: { url: broker },
        imports: {
          stuckAfter: '10m',
          celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', cwd: app },
        },
      },
    },
  }),
);
const activities = createImportsActivities(TargetRegistry.load(targetsFile));
const cutoff = ((await q(db, `select (now() - interval '10 minutes')::text as t`)).rows[0] as { t: string }).t;

/** By hand: the app's own task, apply_async in a loop over the ids (ids from a file, as from a psql query). */
const idsFile = path.join(dir, 'ids.txt');
writeFileSync(idsFile, ids.join('\n'));
const byHandScript = `import sys, gestiq_imports as g\nfor line in open(sys.argv[1]):\n    g.process_item.apply_async(args=[int(line)])\n`;

const rss: number[] = [];
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const results: Record<string, number[]> = { hand: [], runbook: [] };
const order: string[] = [];
log(`${items} stuck items in ${db}; ${repeat} repetitions, interleaved`);
for (let i = 0; i < repeat; i++) {
  log(`repetition ${i + 1}/${repeat}`);
  // Both sides every repetition, by hand first in even ones, the runbook first in odd ones.
  const hand = async () => {
    await redis.del('imports');
    const t0 = performance.now();
    await execa('/usr/bin/python3', ['-c', byHandScript, idsFile], { cwd: app, env: { BROKER_URL: broker } });
    results.hand!.push((performance.now() - t0) / 1000);
    if ((await redis.llen('imports')) !== items) throw new Error('by hand: not every message arrived');
  };
  const runbook = async () => {
    await redis.del('imports');
    peak = 0;
    const t0 = performance.now();
    const r = await activities.importsReenqueue('bench', {
      generation: `bench${i}${Date.now().toString(36)}`,
      updatedBefore: cutoff,
      batchSize: batch,
    });
    results.runbook!.push((performance.now() - t0) / 1000);
    rss.push(peak);
    if (r.published !== items || (await redis.llen('imports')) !== items)
      throw new Error(`runbook: published ${r.published}, queue holds ${await redis.llen('imports')}`);
  };
  order.push(i % 2 === 0 ? 'by hand, runbook' : 'runbook, by hand');
  for (const side of i % 2 === 0 ? [hand, runbook] : [runbook, hand]) await side();
}
clearInterval(sampler);
const rate = (s: number[]) => s.map((x) => items / x);
const ratios = results.runbook!.map((r, i) => results.hand![i]! / r);
console.log(`
### stuck-imports re-enqueue, ${items} items (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version})

Command: \`npx tsx bench/reenqueue.ts --items ${items} --repeat ${repeat} --batch ${batch}\`; median of ${repeat} repetitions [min–max]; both sides in each, by hand first in odd-numbered repetitions, the runbook first in even-numbered ones.

| path | time | items/s |
|---|---|---|
| by hand: \`apply_async\` loop (the app's task, one process) | ${median(results.hand!).toFixed(2)} s ${spread(results.hand!)} | ${median(rate(results.hand!)).toFixed(0)} |
| runbook: ledger + publish through the app's Celery app, batches of ${batch} | ${median(results.runbook!).toFixed(2)} s ${spread(results.runbook!)} | ${median(rate(results.runbook!)).toFixed(0)} |

Runbook throughput as a fraction of the loop's (per repetition): ${median(ratios).toFixed(2)}× ${spread(ratios)} (goal ≥ 0.8×).
Peak RSS of this process (the activity code a worker runs) during a re-enqueue: ${(Math.max(...rss) / 1048576).toFixed(0)} MB.

| repetition | order | by hand | runbook | runbook throughput / by hand's |
|---|---|---|---|---|
${order.map((o, i) => `| ${i + 1} | ${o} | ${results.hand![i]!.toFixed(2)} s | ${results.runbook![i]!.toFixed(2)} s | ${ratios[i]!.toFixed(2)}× |`).join('\n')}
`);
redis.disconnect();
await q('postgres', `drop database ${db} with (force)`);
