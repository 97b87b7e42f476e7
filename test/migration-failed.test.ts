import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alembic,
  finished,
  PG,
  repoRoot,
  sql,
  startRig,
  tmpDir,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { gateOpened } from './support/harness.js';
import {
  appDatabase,
  asApp,
  databaseSettings,
  dbTarget,
  dropAllFor,
  managedFor,
  revisionOf,
} from './support/databases.js';
import { until } from './support/wait.js';
import { TargetBusyError } from '../src/client.js';
import { startReceiver } from './support/receiver.js';

// migration-failed on the fixture's real failure: a release from 0003 to head where 0004 applies
// and 0005 half-applies (its CONCURRENTLY index stays, its CHECK fails on an unknown estado).
describe('migration-failed', () => {
  let rig: TestRig;
  let hooks: Awaited<ReturnType<typeof startReceiver>>;
  const dbs: Record<string, string> = {};
  /** Each target's backups.dir: the only place a `backup` path may name. */
  const backupsOf: Record<string, string> = {};
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };
  const count = async (db: string, q: string) =>
    (await sql<{ n: number }>(db, `select count(*)::int as n from ${q}`))[0]!.n;

  /** What a deploy's `alembic upgrade head` does to a database holding an invoice 0005 refuses. */
  async function failedRelease(db: string): Promise<void> {
    await sql(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`);
    await expect(alembic(db, ['upgrade', 'head'])).rejects.toThrow(/ck_invoices_estado/);
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']);
    expect(await sql(db, `select to_regclass('ix_invoices_estado')::text as ix`)).toEqual([
      { ix: 'ix_invoices_estado' },
    ]);
  }

  beforeAll(async () => {
    for (const k of ['leftovers', 'released', 'blocked', 'plain', 'nosource', 'inputs']) {
      dbs[k] = await appDatabase('0003_invoices', `mf_${k}`);
      backupsOf[k] = tmpDir(`mf-${k}-backups-`);
    }
    hooks = await startReceiver();
    rig = await startRig(
      writeTargets({
        ...Object.fromEntries(
          Object.entries(dbs).map(([k, db]) => [
            k,
            dbTarget(db, {
              freezeWrites: 'read-only',
              backups: { dir: backupsOf[k], retention: '1d' },
              notify: [{ webhook: `${hooks.url}/${k}`, format: 'json' }],
            }),
          ]),
        ),
        // An app whose env.py ignores DATABASE_URL: alembic would act on the database alembic.ini names.
        ignores: dbTarget(dbs.inputs!, {
          freezeWrites: 'read-only',
          alembic: { dir: path.join(repoRoot, 'test/fixtures/env-ignores-url') },
        }),
      }),
    );
  });
  afterAll(async () => {
    await rig?.stop();
    await hooks?.close();
    for (const db of Object.values(dbs)) await dropAllFor(db);
  });

  const gateOpen = (id: string, gate: string) => gateOpened(rig.client, id, gate);
  const gateView = async (id: string, gate: string) =>
    (await rig.client.status(id)).pendingGates.find((g) => g.gate === gate)!;
  const start = async (target: string, input: Record<string, unknown> = {}) =>
    (await rig.client.start('migration-failed', { target, initiator: 'alice', input: { retry, ...input } })).id;

  /** Runs release-migration on an unfrozen copy of the story: the upgrade fails on the live database and the rollback is refused (repair forward). */
  async function releaseHandedOver(target: string, db: string): Promise<void> {
    const { id } = await rig.client.start('release-migration', { target, initiator: 'alice', input: { retry } });
    await gateOpen(id, 'freeze-writes');
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'upgrade');
    // Writes are frozen for the app; an invoice 0005 refuses still gets in through a session that lifts the freeze for itself.
    await sql(
      db,
      `begin read write; insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada'); commit`,
    );
    await rig.client.decide(id, 'upgrade', { decision: 'approve' }, bob);
    await gateOpen(id, 'rollback');
    await rig.client.decide(id, 'rollback', { decision: 'reject', comment: 'repair forward' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({ findings: { outcome: 'handed-over' } });
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']);
  }

  it('refuses to guess the revision (no blind downgrade -1) when no release recorded one, touching nothing', async () => {
    const db = dbs.inputs!;
    const id = await start('inputs');
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('toRevision is required: no release-migration snapshot of');
    expect(run.error).toContain('a blind "downgrade -1" could undo a good revision');
    expect(await asApp(db, `insert into tenants (name) values ('still writable')`)).toMatchObject({ ok: true });
    expect(await managedFor(db)).toEqual([]);
  });

  it('refuses an unknown toRevision, and a backup that is missing, truncated, not a dump, outside backups.dir or holding a shell command, before anything runs', async () => {
    const db = dbs.inputs!;
    const dir = backupsOf.inputs!;
    const plain = path.join(dir, 'full.sql');
    await execa('pg_dump', ['-h', PG.host, '-U', PG.user, '-f', plain, db]);
    const truncated = path.join(dir, 'truncated.sql');
    const text = readFileSync(plain, 'utf8');
    writeFileSync(truncated, text.slice(0, Math.floor(text.length / 2)));
    const notDump = path.join(dir, 'notes.txt');
    writeFileSync(notDump, 'restore steps: 1. …\n');
    // The attack of issue #17: a "plain dump" whose psql meta-command runs a shell on the worker.
    const marker = path.join(tmpDir('mf-marker-'), 'ran');
    const shell = path.join(dir, 'shell.sql');
    writeFileSync(shell, text.replace('SET lock_timeout = 0;\n', `SET lock_timeout = 0;\n\\! touch ${marker}\n`));
    const outside = path.join(tmpDir('mf-elsewhere-'), 'full.sql');
    writeFileSync(outside, text);
    const refusedOutside = `is refused: backups are read only from target "inputs"'s backups.dir (${dir}).`;
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { toRevision: '0042_nope' },
        'Unknown toRevision "0042_nope": the code knows 0005_invoice_estado_check, 0004_imports_payments, 0003_invoices, 0002_products, 0001_tenants.',
      ],
      [
        { toRevision: '0003_invoices', backup: path.join(dir, 'missing.dump') },
        `Backup "${path.join(dir, 'missing.dump')}" does not exist in ${dir} on this worker.`,
      ],
      [{ toRevision: '0003_invoices', backup: truncated }, `Backup ${truncated} is a plain SQL dump that is truncated`],
      [{ toRevision: '0003_invoices', backup: notDump }, `${notDump} is not a PostgreSQL dump`],
      [{ toRevision: '0003_invoices', backup: outside }, `Backup "${outside}" ${refusedOutside}`],
      [
        { toRevision: '0003_invoices', backup: shell },
        `Backup ${shell} is refused: line ${text.split('\n').indexOf('SET lock_timeout = 0;') + 2} is a psql meta-command (\`\\!\`), which psql would run on this worker.`,
      ],
    ];
    const ignored = await finished(rig.client, await start('ignores', { toRevision: '0003_invoices' }));
    expect(ignored.error).toContain('alembic env.py honours DATABASE_URL: alembic current did not use DATABASE_URL');
    expect(ignored.error).toContain('Nothing was changed.');
    // The shell-command dump for real (the attack); the rest as dry runs, which run the same preflight
    // and take no lock, so they can run side by side.
    const shellCase = cases.pop()!;
    const refusals = await Promise.all([
      ...cases.map(async ([input, message]) => {
        const { id } = await rig.client.start('migration-failed', {
          target: 'inputs',
          initiator: 'alice',
          dryRun: true,
          input: { retry, ...input },
        });
        return [await finished(rig.client, id), message] as const;
      }),
      (async () => [await finished(rig.client, await start('inputs', shellCase[0])), shellCase[1]] as const)(),
    ]);
    for (const [run, message] of refusals) {
      expect(run.status).toBe('failed');
      expect(run.error).toContain(message);
    }
    expect(existsSync(marker)).toBe(false);
    expect(await asApp(db, `insert into tenants (name) values ('still writable after bad input')`)).toMatchObject({
      ok: true,
    });
    expect(await managedFor(db)).toEqual([]);
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
  });

  it('repairs in place to the last good revision by dropping what the failed revision left (rehearsed first), keeping every row; records the root cause', async () => {
    const db = dbs.leftovers!;
    await failedRelease(db);
    const rowsBefore = {
      invoices: await count(db, 'invoices'),
      items: await count(db, 'import_items'),
      payments: await count(db, 'pos_payments'),
    };
    const id = await start('leftovers', { toRevision: '0004_imports_payments' });
    await gateOpen(id, 'freeze-writes');
    const freezeGate = await gateView(id, 'freeze-writes');
    expect(freezeGate.prompt).toContain(
      '1 object(s) a failed revision left behind (CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado))',
    );
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'downgrade');
    expect(await asApp(db, `insert into tenants (name) values ('while frozen')`)).toMatchObject({
      ok: false,
      code: '25006',
    });
    // A second repair of the same target while this one runs is refused, naming this run.
    const second = await rig.client
      .start('migration-failed', {
        target: 'leftovers',
        initiator: 'carol',
        input: { toRevision: '0004_imports_payments' },
      })
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(second).toBeInstanceOf(TargetBusyError);
    expect(second?.message).toMatch(
      new RegExp(
        `^Target "leftovers" is being changed by run ${id} \\(migration-failed, since .*\\): one change at a time\\.`,
      ),
    );
    const gate = await gateView(id, 'downgrade');
    expect(gate.prompt).toContain('and drop 1 leftover(s) (DROP INDEX IF EXISTS public.ix_invoices_estado)');
    expect(gate.prompt).toContain('the result equals a fresh build of the revision after dropping 1 leftover(s)');
    await rig.client.decide(id, 'downgrade', { decision: 'approve' }, bob);
    // Waiting for the note is waiting for a person: listed as waiting, saying for what and until when, and notified.
    await until(async () => (await rig.client.status(id)).awaiting !== undefined, 'the root-cause question', 60_000);
    const waiting = await rig.client.status(id);
    expect(waiting).toMatchObject({
      status: 'waiting',
      phase: 'awaiting-input',
      pendingGates: [],
      awaiting: { input: 'root-cause' },
    });
    expect(waiting.awaiting!.prompt).toContain('Write the root-cause note');
    expect(Date.parse(waiting.awaiting!.deadline) - Date.parse(waiting.awaiting!.openedAt)).toBe(24 * 3600_000);
    expect((await rig.client.list({ status: 'waiting', target: 'leftovers' })).map((r) => r.id)).toContain(id);
    await until(
      () => hooks.received.some((r) => r.path === '/leftovers' && r.body.event === 'input-needed'),
      'the input-needed notification',
    );
    const asked = hooks.received.find((r) => r.path === '/leftovers' && r.body.event === 'input-needed')!.body as {
      runId: string;
      awaiting: { input: string; deadline: string };
      links: { console: string };
    };
    expect(asked).toMatchObject({ runId: id, awaiting: { input: 'root-cause', deadline: waiting.awaiting!.deadline } });
    expect(asked.links.console).toMatch(new RegExp(`/console/#/run/${id}$`));
    // Waiting for a note holds no lock: another change may start on the target meanwhile.
    const drill = await rig.client.start('approval-drill', {
      target: 'leftovers',
      initiator: 'carol',
      input: { takeLock: true },
    });
    await rig.client.abort(drill.id, 'carol', 'only checking that the target is free');
    await rig.client.rootCause(
      id,
      'carol',
      'An invoice with estado "anulada" predates the CHECK in 0005; fix the data in a migration before the constraint.',
    );
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(run.phase).toBe('completed');
    const result = run.result as {
      healthy: boolean;
      summary: string[];
      findings: { outcome: string; verify: { same: boolean } };
    };
    expect(result).toMatchObject({ healthy: true, findings: { outcome: 'downgraded', verify: { same: true } } });
    expect(result.summary).toContain(
      'Root cause (carol): An invoice with estado "anulada" predates the CHECK in 0005; fix the data in a migration before the constraint.',
    );
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']);
    expect(await sql(db, `select to_regclass('ix_invoices_estado') as ix`)).toEqual([{ ix: null }]);
    expect({
      invoices: await count(db, 'invoices'),
      items: await count(db, 'import_items'),
      payments: await count(db, 'pos_payments'),
    }).toEqual(rowsBefore);
    expect(await asApp(db, `insert into tenants (name) values ('after repair')`)).toMatchObject({ ok: true });
    const timeline = await rig.client.timeline(id);
    const md = (await import('../src/audit/timeline.js')).renderMarkdown(timeline);
    const dump = run.journal!.find((e) => e.step === 'dump')!.evidence as { path: string; manifestSha256: string };
    expect(md).toContain(`dump \`${dump.path}\``);
    expect(md).toContain(`manifest sha256 \`${dump.manifestSha256}\``);
    expect(md).toMatch(
      /## Root cause\n\nAn invoice with estado "anulada" predates the CHECK in 0005; fix the data in a migration before the constraint\. — carol/,
    );
    expect(md).toMatch(/bob \(update, unsigned\) \| approved/);
  });

  it('after a release handed over to it, defaults to the recorded pre-release revision and downgrades there without losing the new invoice', async () => {
    const db = dbs.released!;
    await releaseHandedOver('released', db);
    const id = await start('released', { rootCauseDeadline: '1s' });
    await gateOpen(id, 'freeze-writes');
    expect((await gateView(id, 'freeze-writes')).evidence).toMatchObject({
      toRevision: '0003_invoices',
      toRevisionFrom: 'release-snapshot',
    });
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'downgrade');
    await rig.client.decide(id, 'downgrade', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({
      healthy: true,
      findings: { outcome: 'downgraded', toRevision: '0003_invoices' },
    });
    expect((run.result as { summary: string[] }).summary).toContain(
      'No root-cause note was given before the deadline: add it to the incident ticket.',
    );
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await sql(db, `select to_regclass('import_items') as t, to_regclass('ix_invoices_estado') as ix`)).toEqual([
      { t: null, ix: null },
    ]);
    // A downgrade keeps data a restore would lose: the invoice written during the release is still there.
    expect(await count(db, `invoices where estado = 'anulada'`)).toBe(1);
  });

  it('restores the pre-release snapshot when the downgrade cannot work, showing what the restore loses, and keeps the database the same to the app', async () => {
    const db = dbs.blocked!;
    const settingsBefore = await databaseSettings(db);
    await releaseHandedOver('blocked', db);
    // A report view on import_items makes 0004's downgrade (drop table import_items) fail.
    await sql(
      db,
      `begin read write; create view import_report as select batch_id, count(*) from import_items group by 1; commit`,
    );
    const id = await start('blocked', { rootCauseDeadline: '1s' });
    await gateOpen(id, 'freeze-writes');
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'restore');
    const gate = await gateView(id, 'restore');
    expect(gate.prompt).toMatch(
      /^The rehearsed downgrade to 0003_invoices FAILED on a clone of mf_blocked_\w+ after \d+ ms: .*cannot drop table import_items because other objects depend on it/s,
    );
    expect(gate.prompt).toContain('Restore mf_blocked');
    expect(gate.prompt).toContain('It would LOSE rows written since: invoices 1.');
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']); // nothing changed before approval
    await rig.client.decide(
      id,
      'restore',
      { decision: 'approve', comment: 're-enter the anulada invoice by hand' },
      bob,
    );
    const run = await finished(rig.client, id);
    const result = run.result as { findings: { outcome: string; restore: { keptAs: string; source: string } } };
    expect(result.findings.outcome).toBe('restored');
    expect(result.findings.restore.source).toMatch(/^pre-release snapshot mf_blocked_\w+_snap_/);
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await count(db, `invoices where estado = 'anulada'`)).toBe(0);
    expect(await databaseSettings(db)).toEqual(settingsBefore);
    expect(await asApp(db, `insert into tenants (name) values ('after restore')`)).toMatchObject({ ok: true });
    const kept = result.findings.restore.keptAs;
    expect(kept).toMatch(/_pre_restore_\d{14}$/);
    expect(await count(kept, `invoices where estado = 'anulada'`)).toBe(1);
    expect(run.journal!.filter((e) => e.kind === 'step' && e.step === 'swap-in').map((e) => e.outcome)).toEqual(['ok']);
  });

  it("restores the seed's plain `pg_dump > backup.sql` with psql when given", async () => {
    const db = dbs.plain!;
    const backup = path.join(backupsOf.plain!, 'backup.sql');
    await execa('pg_dump', ['-h', PG.host, '-U', PG.user, '-f', backup, db]);
    await failedRelease(db);
    await sql(db, `create view import_report as select batch_id, count(*) from import_items group by 1`);
    const id = await start('plain', { toRevision: '0003_invoices', backup, rootCauseDeadline: '1s' });
    await gateOpen(id, 'freeze-writes');
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'restore');
    expect((await gateView(id, 'restore')).prompt).toContain(`Restore ${db} from the backup ${backup}`);
    await rig.client.decide(id, 'restore', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({ findings: { outcome: 'restored' } });
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await count(db, `invoices where estado = 'anulada'`)).toBe(0);
    expect(await count(db, 'tenants')).toBe(2);
  });

  it('with nothing to restore from, parks at a recovery gate until an approver names a backup (inside backups.dir), then restores it', async () => {
    const db = dbs.nosource!;
    const backup = path.join(backupsOf.nosource!, 'backup.sql');
    await execa('pg_dump', ['-h', PG.host, '-U', PG.user, '-f', backup, db]);
    await failedRelease(db);
    await sql(db, `create view import_report as select batch_id, count(*) from import_items group by 1`);
    const id = await start('nosource', { toRevision: '0003_invoices', rootCauseDeadline: '1s' });
    await gateOpen(id, 'freeze-writes');
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'recover:restore-source');
    const parked = await gateView(id, 'recover:restore-source');
    expect(parked.prompt).toContain('Nothing to restore from: no release-migration snapshot of');
    expect(parked.prompt).toContain(
      'Retry this step with a correction {"backup": "<path of a pg_dump file or directory>"}',
    );
    expect(await asApp(db, `insert into tenants (name) values ('parked')`)).toMatchObject({ ok: false, code: '25006' }); // still frozen while parked
    // A correction is a backup path like any other: one outside the target's backups.dir is refused and the step parks again.
    const outside = path.join(tmpDir('mf-nosource-elsewhere-'), 'backup.sql');
    writeFileSync(outside, readFileSync(backup));
    await rig.client.decide(
      id,
      'recover:restore-source',
      { decision: 'approve', action: 'retry', correction: { backup: outside } },
      bob,
    );
    const refused = `Backup "${outside}" is refused: backups are read only from target "nosource"'s backups.dir (${backupsOf.nosource}).`;
    await until(
      async () =>
        (await rig.client.status(id)).pendingGates.some(
          (g) => g.gate === 'recover:restore-source' && g.prompt.includes(refused),
        ),
      'the refused correction to park the step again',
      60_000,
    );
    await rig.client.decide(
      id,
      'recover:restore-source',
      { decision: 'approve', action: 'retry', correction: { backup } },
      bob,
    );
    await gateOpen(id, 'restore');
    await rig.client.decide(id, 'restore', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({ findings: { outcome: 'restored', restore: { source: `backup ${backup}` } } });
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await count(db, `invoices where estado = 'anulada'`)).toBe(0);
  });
});
