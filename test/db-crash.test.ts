import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunbookClient } from '../src/client.js';
import { TargetRegistry } from '../src/targets.js';
import { finished, sql, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { appDatabase, asApp, dbTarget, dropAllFor, managedFor, revisionOf } from './support/databases.js';
import { until } from './support/wait.js';
import { workerProcesses } from './support/worker-process.js';
import { serverOptions } from './support/temporal.js';

// Real worker processes, killed with SIGKILL at chosen points (src/util/chaos.ts), then replaced by a
// fresh worker: the run completes, nothing destructive runs twice, the live database is whole.
describe('database runbooks survive a killed worker', () => {
  const dbs: Record<string, string> = {};
  let client: RunbookClient;
  let connection: Connection;
  let targetsFile: string;
  let procs: ReturnType<typeof workerProcesses>;
  const dataDir = tmpDir('crash-data-');
  const dumpRoot = tmpDir('crash-dumps-');
  const bob = { person: 'bob', roles: ['approver'] };
  // Short timeouts so a step lost with a killed worker is retried within seconds, not minutes.
  const retry = {
    initialInterval: '200 ms',
    maximumAttempts: 3,
    activityTimeout: '15 seconds',
    heartbeatTimeout: '3 seconds',
  };

  beforeAll(async () => {
    dbs.swap = await appDatabase('0003_invoices', 'crash_swap');
    dbs.dump = await appDatabase('0003_invoices', 'crash_dump');
    // Enough data that pg_dump runs for a while (the kill lands mid-dump).
    await sql(
      dbs.dump,
      `begin; set local statement_timeout = 0; insert into products (tenant_id, sku, price_cents) select 1, 'sku-' || g, g from generate_series(1, 1000000) g; commit`,
    );
    targetsFile = writeTargets({
      swap: dbTarget(dbs.swap),
      dump: dbTarget(dbs.dump, { freezeWrites: 'read-only', backups: { dir: dumpRoot, retention: '1d' } }),
    });
    procs = workerProcesses(targetsFile, dataDir);
    connection = await Connection.connect(serverOptions());
  });
  afterAll(async () => {
    await procs?.killAll();
    await connection?.close();
    for (const db of Object.values(dbs)) await dropAllFor(db);
  });

  const worker = (taskQueue: string, chaos?: string) => procs.start(taskQueue, chaos);

  const clientFor = (taskQueue: string) =>
    new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://x',
      targets: () => TargetRegistry.load(targetsFile),
    });
  const gateOpen = async (id: string, gate: string) => {
    let last: unknown;
    await until(
      async () => {
        const s = await client.status(id);
        last = { status: s.status, phase: s.phase, error: s.error, gates: s.pendingGates.map((g) => g.gate) };
        return s.pendingGates.some((g) => g.gate === gate);
      },
      `gate ${gate}`,
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the run: ${JSON.stringify(last)}`);
    });
  };

  it('killed right after the rollback swap, before reporting it: the retry finds the swap done and does not swap twice', async () => {
    const taskQueue = uniqueName('crash');
    client = clientFor(taskQueue);
    const doomed = await worker(taskQueue, 'after:pgSwap');
    const db = dbs.swap!;
    const { id } = await client.start('release-migration', { target: 'swap', initiator: 'alice', input: { retry } });
    await gateOpen(id, 'upgrade');
    await asApp(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`);
    await client.decide(id, 'upgrade', { decision: 'approve' }, bob);
    await gateOpen(id, 'rollback');
    await client.decide(id, 'rollback', { decision: 'approve' }, bob);
    const died = await doomed.proc;
    expect(died.signal).toBe('SIGKILL');
    await worker(taskQueue);
    const run = await finished(client, id);
    expect(run.status).toBe('completed');
    expect(run.result).toMatchObject({ findings: { outcome: 'rolled-back', rollback: { swapped: false } } });
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await sql(db, `select count(*)::int as n from invoices where estado = 'anulada'`)).toEqual([{ n: 0 }]);
    // One swap, by the databases themselves: one replaced database, and the snapshot is the live one now.
    const ours = await managedFor(db);
    expect(ours.map((d) => d.meta.kind)).toEqual(['replaced']);
    expect(await revisionOf(ours[0]!.name)).toEqual(['0004_imports_payments']);
    expect(await asApp(db, 'select 1 as ok')).toMatchObject({ ok: true });
  });

  it('killed mid-dump: a fresh worker dumps again from scratch, the manifest verifies, no partial dump is left', async () => {
    const taskQueue = uniqueName('crash');
    client = clientFor(taskQueue);
    const doomed = await worker(taskQueue, 'beat:pgDumpBackup:1'); // killed as the first bytes of the dump are written
    const db = dbs.dump!;
    const { id } = await client.start('release-migration', {
      target: 'dump',
      initiator: 'alice',
      input: { retry, toRevision: '0004_imports_payments' },
    });
    await gateOpen(id, 'freeze-writes');
    await client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    const died = await doomed.proc;
    expect(died.signal).toBe('SIGKILL');
    // Killed with pg_dump under way: a partial dump directory is what it left.
    expect(readdirSync(path.join(dumpRoot, 'dump')).some((f) => f.includes('.partial-'))).toBe(true);
    await worker(taskQueue);
    await gateOpen(id, 'upgrade');
    await client.decide(id, 'upgrade', { decision: 'approve' }, bob);
    const run = await finished(client, id);
    expect(run.status).toBe('completed');
    const dump = run.journal!.find((e) => e.kind === 'step' && e.step === 'dump')!;
    expect(dump.outcome).toBe('ok');
    expect((dump.evidence as { checks: string[] }).checks[0]).toMatch(
      /^\d+ files hashed into the manifest \(sha256\)$/,
    );
    // The dump on disk is whole: every file matches the manifest, by our own hashing here.
    const dumpDir = (dump.evidence as { path: string }).path;
    const manifest = JSON.parse(readFileSync(path.join(dumpDir, 'manifest.json'), 'utf8')) as {
      files: Array<{ file: string; sha256: string }>;
    };
    for (const f of manifest.files)
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(dumpDir, f.file)))
          .digest('hex'),
      ).toBe(f.sha256);
    expect((dump.evidence as { tables: Record<string, number> }).tables['public.products']).toBe(1_000_010);
    const backups = readdirSync(path.join(dumpRoot, 'dump'));
    expect(backups.filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(backups).toHaveLength(1);
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']);
    expect(await asApp(db, `insert into tenants (name) values ('after the crash')`)).toMatchObject({ ok: true });
  });
});
