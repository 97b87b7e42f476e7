/**
 * db-access as a runbook vs the same checks typed by hand (psql and alembic, as the seed does),
 * in the same run on this machine.   npx tsx bench/db-access.ts [--repeat 5]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/temporal/devserver.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { createWorker, workflowsPath } from '../src/worker.js';
import { median, spread } from './stats.js';
import { workflowInterceptorModules } from '../src/tracing/index.js';

const repeat = Number(parseArgs({ options: { repeat: { type: 'string', default: '5' } } }).values.repeat);
Runtime.install({ logger: new DefaultLogger('ERROR') });
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
const targetsFile = path.join(dir, 'targets.yaml');
// Unsigned starts allowed, as in the tests' targets: this client has no signing key (signing is not measured).
writeFileSync(
  targetsFile,
  stringify({
    targets: {
      'bench-db': {
        policy: { unsignedStarts: 'allow' },
        postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' },
        alembic: { dir: app },
      },
    },
  }),
);
const targets = TargetRegistry.load(targetsFile);
const server = await startDevServer({
  cli: await resolveTemporalCli(),
  port: 17900 + Math.floor(Math.random() * 90),
  headless: true,
});
const native = await NativeConnection.connect({ address: server.address });
const bundle = await bundleWorkflowCode({
  workflowsPath,
  workflowInterceptorModules,
  logger: new DefaultLogger('ERROR'),
});
const worker = await createWorker({
  connection: native,
  address: server.address,
  namespace: 'default',
  taskQueue: 'bench-db',
  targets,
  workflowBundle: { code: bundle.code },
});
const running = worker.run();
const connection = await Connection.connect({ address: server.address });
const client = new RunbookClient(new Client({ connection }), {
  taskQueue: 'bench-db',
  namespace: 'default',
  uiUrl: 'http://localhost:8233',
  targets: () => targets,
});

const psql = (sql: string) => execa('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-Atc', sql]);
async function byHand(): Promise<number> {
  const t0 = performance.now();
  await psql('select 1');
  await psql("select current_setting('server_version')");
  await psql("select current_setting('max_connections'), count(*) from pg_stat_activity");
  await psql("select to_regclass('alembic_version')");
  await execa('/usr/bin/python3', ['-m', 'alembic', 'heads'], { cwd: app });
  await execa('/usr/bin/python3', ['-m', 'alembic', 'history'], { cwd: app });
  await psql("select pid from pg_stat_activity where now() - xact_start > interval '5 minutes'");
  await psql('select pid, pg_blocking_pids(pid) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0');
  return performance.now() - t0;
}
async function asRunbook(): Promise<number> {
  const t0 = performance.now();
  const { id } = await client.start('db-access', { target: 'bench-db', initiator: 'bench' });
  await client.temporal.workflow.getHandle(id).result();
  return performance.now() - t0;
}

await asRunbook(); // warm-up: first workflow task loads the bundle
const hand: number[] = [];
const wf: number[] = [];
const order: string[] = [];
for (let i = 0; i < repeat; i++) {
  // Both sides every repetition, by hand first in even ones, the runbook first in odd ones.
  order.push(i % 2 === 0 ? 'by hand, runbook' : 'runbook, by hand');
  if (i % 2 === 0) {
    hand.push(await byHand());
    wf.push(await asRunbook());
  } else {
    wf.push(await asRunbook());
    hand.push(await byHand());
  }
}
const ratios = wf.map((w, i) => w / hand[i]!);
console.log(`### db-access: runbook vs by hand (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version})

Command: \`npx tsx bench/db-access.ts --repeat ${repeat}\`; median of ${repeat}, [min–max]; both sides in each repetition, by hand first in odd-numbered ones, the runbook first in even-numbered ones. By hand = the same checks as
sequential \`psql -Atc\` and \`python3 -m alembic heads|history\` commands, no typing time counted.

| | wall time |
|---|---|
| by hand (8 commands) | ${median(hand).toFixed(0)} ms ${spread(hand)} |
| db-access runbook (start → result, journaled, durable) | ${median(wf).toFixed(0)} ms ${spread(wf)} |
| ratio runbook / by hand | ${median(ratios).toFixed(2)} ${spread(ratios)} |

| repetition | order | by hand | runbook | runbook / by hand |
|---|---|---|---|---|
${order.map((o, i) => `| ${i + 1} | ${o} | ${hand[i]!.toFixed(0)} ms | ${wf[i]!.toFixed(0)} ms | ${ratios[i]!.toFixed(2)} |`).join('\n')}
`);
worker.shutdown();
await running;
await native.close();
await connection.close();
await server.stop();
