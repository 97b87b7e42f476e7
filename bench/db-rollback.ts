/**
 * Rollback and backup paths of the database runbooks vs the seed's by-hand procedure, on a
 * generated database, same run, same machine, interleaved repetitions.
 *
 *   npx tsx bench/db-rollback.ts [--size-mb 500] [--repeat 5] [--jobs 1,2]
 *
 * The runbook side calls the worker's own activity code in this process (what a worker runs:
 * snapshot, pg_dump with manifest and verify, restore into scratch, swap); the Temporal round
 * trips around them are measured by bench/approvals.ts (tens of milliseconds). By hand = the
 * seed's commands: `pg_dump > backup.sql` before the release, `psql < backup.sql` after it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { createDatabaseActivities } from '../src/activities/databases.js';
import { createPgToolActivities } from '../src/activities/pgtools.js';
import { TargetRegistry } from '../src/targets.js';
import { generateDatabase, query } from './generate-db.js';
import { log, median, spread, timed } from './stats.js';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '500' },
    repeat: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '1,2' },
  },
});
const sizeMb = Number(values['size-mb']);
const repeat = Number(values.repeat);
const jobsList = values.jobs.split(',').map(Number);
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const live = `bench_live_${sizeMb}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-rollback-'));
const targetsFile = path.join(dir, 'targets.yaml');
writeFileSync(
  targetsFile,
  stringify({
    targets: {
      bench: { postgres: { ...PG, database: live }, backups: { dir: path.join(dir, 'backups'), retention: '1d' } },
    },
  }),
);
const targets = TargetRegistry.load(targetsFile);
const dbs = createDatabaseActivities(targets);
const tools = createPgToolActivities(targets, dir);

const q = (database: string, text: string) => query(PG, database, text);
const seconds = (ms: number) => ms / 1000;
const psqlEnv = { PGHOST: PG.host, PGUSER: PG.user };

async function dropOurs(): Promise<void> {
  for (const d of await dbs.pgListManaged('bench')) await dbs.pgDropManaged('bench', d.name);
}

const results: Record<string, number[]> = {};
const record = (k: string, ms: number) => (results[k] ??= []).push(ms);

await generateDatabase(PG, live, sizeMb, log);
const settings = await dbs.pgDatabaseSettings('bench');
const sizeBytes = Number(
  ((await q(live, 'select pg_database_size(current_database()) as s')).rows[0] as { s: string }).s,
);
log(`${live}: ${(sizeBytes / 1048576).toFixed(0)} MB; ${repeat} repetitions, interleaved`);
let rssPeak = 0;
const order: string[] = [];
let pgDumpRssPeak = 0;

for (let r = 0; r < repeat; r++) {
  log(`repetition ${r + 1}/${repeat}`);
  await dropOurs();
  rmSync(path.join(dir, 'backups'), { recursive: true, force: true });
  rmSync(path.join(dir, 'backup.sql'), { force: true });

  // Both sides of each comparison run in every repetition, by hand first in even ones and the
  // runbook first in odd ones (the first to run finds a colder cache and the other's WAL).
  const handFirst = r % 2 === 0;
  order.push(handFirst ? 'by hand, runbook' : 'runbook, by hand');
  const inOrder = async (hand: () => Promise<void>, runbook: () => Promise<void>) => {
    for (const step of handFirst ? [hand, runbook] : [runbook, hand]) await step();
  };

  // By hand, before the release: pg_dump > backup.sql.
  const handBefore = async () => {
    const handDump = await timed(() =>
      execa('sh', ['-c', `pg_dump ${live} > ${path.join(dir, 'backup.sql')}`], { env: psqlEnv }),
    );
    record('by hand: pg_dump > backup.sql', handDump);
  };

  // The runbook, before the release: snapshot + verified directory dump (of the snapshot) + rehearsal clone.
  let snap = '';
  const runbookBefore = async () => {
    const snapMs = await timed(
      async () =>
        (snap = (
          await dbs.pgSnapshot('bench', {
            name: `${live}_snap_${r}`,
            purpose: 'pre-release',
            allowConnectionsAfter: true,
          })
        ).name),
    );
    record('runbook: snapshot', snapMs);
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      execa('sh', ['-c', 'ps -C pg_dump -o rss= | sort -n | tail -1']).then(
        (p) => (pgDumpRssPeak = Math.max(pgDumpRssPeak, Number(p.stdout.trim() || 0) * 1024)),
        () => undefined,
      );
    }, 200);
    // As the runbook's dump step: the dump, hashed into its manifest, read back by pg_restore --list.
    let pgDumpMs = 0;
    const dumpMs = await timed(
      async () =>
        (pgDumpMs =
          (await tools.pgDumpBackup('bench', { name: `dump_${r}`, database: snap, jobs: 2 })).pgDumpMs ?? NaN),
    );
    clearInterval(sampler);
    record('runbook: dump -Fd -j2 + manifest + pg_restore --list', dumpMs);
    record('  of which pg_dump itself', pgDumpMs);
    const rehearseMs = await timed(async () => {
      await dbs.pgClone('bench', { source: snap, name: `${live}_clone_${r}`, kind: 'clone' });
      await q(`${live}_clone_${r}`, `alter table invoices add column checked boolean`); // the "upgrade"
      await dbs.pgDropManaged('bench', `${live}_clone_${r}`);
    });
    record('runbook: rehearsal on a clone', rehearseMs);
  };
  await inOrder(handBefore, runbookBefore);

  // The release breaks the live database.
  await q(live, `alter table invoices add column broken int`);

  // Rollback, by hand: psql < backup.sql into a fresh database under the live name.
  const handRollback = async () => {
    const handRestore = await timed(async () => {
      await q('postgres', `drop database ${live}_hand with (force)`).catch(() => undefined);
      await q('postgres', `create database ${live}_hand`);
      await execa('sh', ['-c', `psql -q -v ON_ERROR_STOP=1 ${live}_hand < ${path.join(dir, 'backup.sql')}`], {
        env: psqlEnv,
      });
    });
    record('by hand: psql < backup.sql', handRestore);
    await q('postgres', `drop database if exists ${live}_hand with (force)`);
  };

  // Rollback, runbook: swap the snapshot in.
  const runbookRollback = async () => {
    const swapMs = await timed(() =>
      dbs.pgSwap('bench', { replacement: snap, keepAs: `${live}_failed_${r}`, settings }),
    );
    record('runbook: rollback swap', swapMs);
  };
  await inOrder(handRollback, runbookRollback);

  // What the restore checks first, alone: every file's sha256 against the manifest, pg_restore --list.
  record(
    'runbook: verify alone (sha256 of every file + pg_restore --list)',
    await timed(() => tools.pgVerifyBackup('bench', path.join(dir, 'backups', 'bench', `dump_${r}`))),
  );

  // The runbook's dump path: restore the directory dump into scratch (-j), then swap.
  const runbookRestores = async () => {
    for (const jobs of jobsList) {
      const scratch = `${live}_scratch_${r}_${jobs}`;
      await dbs.pgCreateEmpty('bench', { name: scratch, kind: 'scratch', purpose: 'bench' });
      let commandMs = 0;
      const restoreMs = await timed(
        async () =>
          (commandMs = (
            await tools.pgRestoreInto('bench', { file: path.join(dir, 'backups', 'bench', `dump_${r}`), scratch, jobs })
          ).restoreCommandMs),
      );
      record(`runbook: verify (sha256) + restore -j${jobs} into scratch`, restoreMs);
      record(`  of which pg_restore -j${jobs} itself`, commandMs);
      const swap2 = await timed(() =>
        dbs.pgSwap('bench', { replacement: scratch, keepAs: `${live}_pre_restore_${r}_${jobs}`, settings }),
      );
      record(`runbook: swap after restore -j${jobs}`, swap2);
    }
  };
  // The same pg_dump/pg_restore commands, run directly (orchestration overhead).
  const directCommands = async () => {
    const rawDir = path.join(dir, `raw_${r}`);
    const rawDump = await timed(() =>
      execa('pg_dump', ['--format=directory', '--jobs=2', '--compress=0', `--file=${rawDir}`, live], { env: psqlEnv }),
    );
    record('direct: pg_dump -Fd -j2', rawDump);
    await q('postgres', `create database ${live}_raw`);
    const rawRestore = await timed(() =>
      execa('pg_restore', ['--exit-on-error', '--no-owner', '--jobs=2', `--dbname=${live}_raw`, rawDir], {
        env: psqlEnv,
      }),
    );
    record('direct: pg_restore -j2', rawRestore);
    await q('postgres', `drop database ${live}_raw with (force)`);
    rmSync(rawDir, { recursive: true, force: true });
  };
  // Every restore leaves WAL for the next one's checkpoints: alternate which side goes first.
  await inOrder(directCommands, runbookRestores);
  await dropOurs();
}

const m = (k: string) => median(results[k]!);
const line = (k: string) => `| ${k} | ${seconds(m(k)).toFixed(2)} s ${spread(results[k]!.map(seconds))} |`;
const ratio = (a: number[], b: number[]) => {
  const rs = a.map((x, i) => x / b[i]!);
  return `${median(rs).toFixed(1)}× ${spread(rs)}`;
};
const sum = (...ks: string[]) => results[ks[0]!]!.map((_, i) => ks.reduce((n, k) => n + results[k]![i]!, 0));
const handE2e = sum('by hand: pg_dump > backup.sql', 'by hand: psql < backup.sql');
const runbookE2e = sum(
  'runbook: snapshot',
  'runbook: dump -Fd -j2 + manifest + pg_restore --list',
  'runbook: rehearsal on a clone',
  'runbook: rollback swap',
);
const j2 = jobsList.includes(2) ? 2 : jobsList[0]!;
const dumpPath = sum(
  'runbook: dump -Fd -j2 + manifest + pg_restore --list',
  `runbook: verify (sha256) + restore -j${j2} into scratch`,
  `runbook: swap after restore -j${j2}`,
);
const direct = sum('direct: pg_dump -Fd -j2', 'direct: pg_restore -j2');
const ours = sum(
  'runbook: dump -Fd -j2 + manifest + pg_restore --list',
  `runbook: verify (sha256) + restore -j${j2} into scratch`,
);
const inside = sum('  of which pg_dump itself', `  of which pg_restore -j${j2} itself`);

console.log(
  `\n### Database rollback and backup paths, ${(sizeBytes / 1048576).toFixed(0)} MB database (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, PostgreSQL 15, Node ${process.version})\n`,
);
console.log(
  `Command: \`npx tsx bench/db-rollback.ts --size-mb ${sizeMb} --repeat ${repeat} --jobs ${jobsList.join(',')}\`; median of ${repeat} interleaved repetitions [min–max]; in each, both sides of every comparison, by hand first in odd-numbered repetitions, the runbook first in even-numbered ones.\n`,
);
console.log('| step | time |\n|---|---|');
for (const k of Object.keys(results)) console.log(line(k));
console.log('\n| comparison | ratio (by hand / runbook, per repetition) |\n|---|---|');
console.log(
  `| rollback: psql < backup.sql vs snapshot swap | ${ratio(results['by hand: psql < backup.sql']!, results['runbook: rollback swap']!)} |`,
);
console.log(
  `| end to end: pg_dump > sql + psql < sql vs snapshot + dump + rehearsal + swap | ${ratio(handE2e, runbookE2e)} |`,
);
console.log(
  `| dump path: pg_dump > sql + psql < sql vs dump -Fd -j2 + verify + restore -j${j2} + swap | ${ratio(handE2e, dumpPath)} |`,
);
console.log(
  `| the same path bare, without a check: pg_dump > sql + psql < sql vs pg_dump -Fd -j2 + pg_restore -j2 direct | ${ratio(handE2e, direct)} |`,
);
console.log(
  `| orchestration overhead: (our dump + restore) / (same commands direct) | ${ratio(ours, direct).replace('×', '')} (1.00 = none) |`,
);
console.log(
  `| the same, same moment: (our dump + restore) / (the pg_dump + pg_restore they ran) | ${ratio(ours, inside).replace('×', '')} (1.00 = none) |`,
);
const perRep = (a: number[], b: number[]) => a.map((x, i) => `${(x / b[i]!).toFixed(2)}×`);
const cols = {
  rollback: perRep(results['by hand: psql < backup.sql']!, results['runbook: rollback swap']!),
  e2e: perRep(handE2e, runbookE2e),
  dump: perRep(handE2e, dumpPath),
  overhead: ours.map((x, i) => (x / direct[i]!).toFixed(2)),
  same: ours.map((x, i) => (x / inside[i]!).toFixed(2)),
};
console.log(
  '\n| repetition | order | rollback | end to end | dump path | orchestration overhead | same, same moment |\n|---|---|---|---|---|---|---|',
);
order.forEach((o, i) =>
  console.log(
    `| ${i + 1} | ${o} | ${cols.rollback[i]} | ${cols.e2e[i]} | ${cols.dump[i]} | ${cols.overhead[i]} | ${cols.same[i]} |`,
  ),
);
console.log(
  `\nPeak RSS of this process (the activity code a worker runs) during the dumps: ${(rssPeak / 1048576).toFixed(0)} MB; largest pg_dump child: ${(pgDumpRssPeak / 1048576).toFixed(0)} MB.`,
);
await q('postgres', `drop database if exists ${live} with (force)`).catch(() => undefined);
for (const k of await q('postgres', `select datname from pg_database where datname like '${live}%'`).then(
  (r) => r.rows as Array<{ datname: string }>,
))
  await q('postgres', `drop database "${k.datname}" with (force)`);
rmSync(dir, { recursive: true, force: true });
