/**
 * What the PostgreSQL commands themselves allow on this machine, apart from the runbook: how
 * pg_dump and pg_restore scale with -j, whether restore session settings help, and whether two
 * clones of one database go faster at once. The limits that bench/db-rollback.ts's dump-path goal
 * meets. Same run, interleaved repetitions (each repetition rotates the order of the variants).
 *
 *   npx tsx bench/pg-knobs.ts [--size-mb 500] [--repeat 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { generateDatabase, query } from './generate-db.js';
import { log, median, spread, timed } from './stats.js';

const { values } = parseArgs({
  options: { 'size-mb': { type: 'string', default: '500' }, repeat: { type: 'string', default: '5' } },
});
const sizeMb = Number(values['size-mb']);
const repeat = Number(values.repeat);
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const env = { PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: PG.user };
const live = `bench_live_${sizeMb}`;
const source = `${live}_knobs_src`; // a copy nobody is connected to, as the runbook dumps its snapshot
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-knobs-'));
const sql = path.join(dir, 'backup.sql');
const dump = path.join(dir, 'dump');
const q = (database: string, text: string) => query(PG, database, text);
const sh = (command: string, extraEnv: Record<string, string> = {}) =>
  execa('sh', ['-c', command], { env: { ...env, ...extraEnv } });

/** An empty database to restore into, after a checkpoint (so no variant pays for the last one's WAL). */
async function freshTarget(name: string): Promise<void> {
  await q('postgres', `drop database if exists ${name} with (force)`);
  await q('postgres', 'checkpoint');
  await q('postgres', `create database ${name} template template0`);
}

const TUNED = '-c maintenance_work_mem=512MB -c synchronous_commit=off';
const dumps: Record<string, () => Promise<unknown>> = {
  'pg_dump > backup.sql (plain, by hand)': () => sh(`pg_dump ${source} > ${sql}`),
  'pg_dump -Fd -j1': () => sh(`pg_dump -Fd -j1 -Z0 -f ${dump}-j1 ${source}`),
  'pg_dump -Fd -j2 (the runbook)': () => sh(`pg_dump -Fd -j2 -Z0 -f ${dump}-j2 ${source}`),
  'pg_dump -Fd -j3': () => sh(`pg_dump -Fd -j3 -Z0 -f ${dump}-j3 ${source}`),
};
const restore = (label: string, command: string, extraEnv?: Record<string, string>) =>
  [
    label,
    async () => {
      await freshTarget(`${live}_knobs_dst`);
      return timed(() => sh(command, extraEnv));
    },
  ] as const;
const restores: Record<string, () => Promise<number>> = Object.fromEntries([
  restore('psql < backup.sql (by hand)', `psql -q -v ON_ERROR_STOP=1 -d ${live}_knobs_dst < ${sql}`),
  ...[1, 2, 3, 4].map((j) =>
    restore(
      `pg_restore -j${j}${j === 2 ? ' (the runbook)' : ''}`,
      `pg_restore --exit-on-error --no-owner -j${j} -d ${live}_knobs_dst ${dump}-j2`,
    ),
  ),
  restore(
    `pg_restore -j2, sessions with ${TUNED}`,
    `pg_restore --exit-on-error --no-owner -j2 -d ${live}_knobs_dst ${dump}-j2`,
    { PGOPTIONS: TUNED },
  ),
]);
const clone = (name: string) => q('postgres', `create database ${name} template ${source} strategy file_copy`);
const clones: Record<string, () => Promise<number>> = {
  'one clone (FILE_COPY)': async () => {
    await q('postgres', 'checkpoint');
    return timed(() => clone(`${live}_knobs_c1`));
  },
  'two clones at once': async () => {
    await q('postgres', 'checkpoint');
    return timed(() => Promise.all([clone(`${live}_knobs_c1`), clone(`${live}_knobs_c2`)]));
  },
  'two clones, one after the other': async () => {
    await q('postgres', 'checkpoint');
    return timed(async () => {
      await clone(`${live}_knobs_c1`);
      await clone(`${live}_knobs_c2`);
    });
  },
};
const dropClones = async () => {
  for (const c of ['c1', 'c2']) await q('postgres', `drop database if exists ${live}_knobs_${c} with (force)`);
};

const results: Record<string, number[]> = {};
const rotate = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);

await generateDatabase(PG, live, sizeMb, log);
await q('postgres', `drop database if exists ${source} with (force)`);
await q('postgres', `create database ${source} template ${live} strategy file_copy`);
const sizeBytes = Number(
  ((await q(source, 'select pg_database_size(current_database()) as s')).rows[0] as { s: string }).s,
);
for (let r = 0; r < repeat; r++) {
  log(`repetition ${r + 1}/${repeat}`);
  for (const [k, run] of rotate(Object.entries(dumps), r)) {
    rmSync(k.includes('plain') ? sql : `${dump}-${k.match(/-j(\d)/)![0].slice(1)}`, { recursive: true, force: true });
    await sh('sync');
    (results[k] ??= []).push(await timed(run));
  }
  for (const [k, run] of rotate(Object.entries(restores), r)) (results[k] ??= []).push(await run());
  for (const [k, run] of rotate(Object.entries(clones), r)) {
    await dropClones();
    (results[k] ??= []).push(await run());
  }
  await dropClones();
}

const s = (ms: number) => (ms / 1000).toFixed(2);
const row = (k: string, base?: string) =>
  `| ${k} | ${s(median(results[k]!))} s ${spread(results[k]!.map((x) => x / 1000))} |${base ? ` ${(median(results[base]!) / median(results[k]!)).toFixed(2)}× |` : ''}`;
console.log(
  `\n### PostgreSQL's own knobs, ${(sizeBytes / 1048576).toFixed(0)} MB database (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, PostgreSQL 15, Node ${process.version})\n`,
);
console.log(
  `Command: \`npx tsx bench/pg-knobs.ts --size-mb ${sizeMb} --repeat ${repeat}\`; median of ${repeat} interleaved repetitions [min–max]; speed-up against the by-hand command (or the single clone).\n`,
);
console.log('| dump | time | vs plain |\n|---|---|---|');
for (const k of Object.keys(dumps)) console.log(row(k, 'pg_dump > backup.sql (plain, by hand)'));
console.log('\n| restore into an empty database | time | vs psql |\n|---|---|---|');
for (const k of Object.keys(restores)) console.log(row(k, 'psql < backup.sql (by hand)'));
console.log('\n| clone | time | vs one clone |\n|---|---|---|');
for (const k of Object.keys(clones)) console.log(row(k, 'one clone (FILE_COPY)'));
for (const d of [source, `${live}_knobs_dst`, live]) await q('postgres', `drop database if exists ${d} with (force)`);
rmSync(dir, { recursive: true, force: true });
