import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, sql, startRig, writeTargets, type TestRig } from './support/harness.js';
import { appDatabase, asApp, databaseSettings, dbTarget, dropAllFor, managedFor, revisionOf } from './support/databases.js';
import { until } from './support/wait.js';

// release-migration on real PostgreSQL and the fixture's real alembic chain: the upgrade is
// rehearsed on a clone of the real data before anyone approves it, and a release that fails on
// the live database is rolled back by swapping the pre-release snapshot in.
describe('release-migration', () => {
  let rig: TestRig;
  const dbs: Record<string, string> = {};
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };

  beforeAll(async () => {
    dbs.frozen = await appDatabase('0003_invoices', 'rel_frozen');
    dbs.unfrozen = await appDatabase('0003_invoices', 'rel_live');
    dbs.bad = await appDatabase('0003_invoices', 'rel_bad');
    dbs.ahead = await appDatabase('0002_products', 'rel_ahead');
    rig = await startRig(writeTargets({
      frozen: dbTarget(dbs.frozen, { freezeWrites: 'read-only' }),
      unfrozen: dbTarget(dbs.unfrozen),
      bad: dbTarget(dbs.bad, { freezeWrites: 'read-only' }),
      ahead: dbTarget(dbs.ahead),
    }));
  });
  afterAll(async () => {
    await rig?.stop();
    for (const db of Object.values(dbs)) await dropAllFor(db);
  });

  const gateOpen = (id: string, gate: string) => until(async () => (await rig.client.status(id)).pendingGates.some((g) => g.gate === gate), `gate ${gate}`, 60_000);
  const evidenceOf = async (id: string, gate: string) => (await rig.client.status(id)).pendingGates.find((g) => g.gate === gate)!;

  it('freezes writes (proved as the app role), snapshots, dumps, rehearses the upgrade on a clone, then upgrades and unfreezes', async () => {
    const db = dbs.frozen!;
    const invoicesBefore = (await sql<{ n: string }>(db, 'select count(*) as n from invoices'))[0]!.n;
    const { id } = await rig.client.start('release-migration', { target: 'frozen', initiator: 'alice', input: { retry } });
    await gateOpen(id, 'freeze-writes');
    expect((await evidenceOf(id, 'freeze-writes')).evidence).toMatchObject({ fromRevision: ['0003_invoices'], toRevision: '0005_invoice_estado_check', method: 'read-only' });
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    await gateOpen(id, 'upgrade');

    // While the run waits at the upgrade gate, the app cannot write.
    const write = await asApp(db, `insert into tenants (name) values ('during freeze')`);
    expect(write).toMatchObject({ ok: false, code: '25006' });
    const gate = await evidenceOf(id, 'upgrade');
    expect(gate.prompt).toContain('Rehearsed on a clone of this very data: The rehearsed upgrade to 0005_invoice_estado_check ran on the clone');
    expect(gate.evidence).toMatchObject({ rehearsal: { ran: true, clean: true, revisionAfter: ['0005_invoice_estado_check'] } });
    expect(await revisionOf(db)).toEqual(['0003_invoices']); // nothing applied before approval

    await rig.client.decide(id, 'upgrade', { decision: 'approve', comment: 'rehearsal clean' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    const result = run.result as { healthy: boolean; findings: { outcome: string; undoPoint: { snapshot: { name: string }; dump: { path: string; manifestSha256: string } }; freeze: { proof: { role: string; asAppRole: boolean } } } };
    expect(result).toMatchObject({ healthy: true, findings: { outcome: 'upgraded', freeze: { proof: { role: 'gestiq_app', asAppRole: true } } } });
    expect(await revisionOf(db)).toEqual(['0005_invoice_estado_check']);
    expect((await sql<{ n: string }>(db, 'select count(*) as n from invoices'))[0]!.n).toBe(invoicesBefore);
    expect(await asApp(db, `insert into tenants (name) values ('after release')`)).toMatchObject({ ok: true });

    // The undo point: a labelled snapshot at the pre-release revision, and a verified dump of files only the worker's user can read.
    const snapshot = (await managedFor(db)).find((d) => d.name === result.findings.undoPoint.snapshot.name);
    expect(snapshot?.meta).toMatchObject({ kind: 'snapshot', purpose: 'pre-release', revision: ['0003_invoices'] });
    expect(await revisionOf(snapshot!.name)).toEqual(['0003_invoices']);
    const dumpDir = result.findings.undoPoint.dump.path;
    expect(statSync(dumpDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dumpDir)) expect(statSync(path.join(dumpDir, f)).mode & 0o777).toBe(0o600);
    expect(result.findings.undoPoint.dump.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    // No clone or fresh build is left behind.
    expect((await managedFor(db)).map((d) => d.meta.kind).sort()).toEqual(['snapshot']);
  });

  it('rolls a release that fails on the live database back by swapping the snapshot in, showing the rows that rollback loses', async () => {
    const db = dbs.unfrozen!;
    const settingsBefore = await databaseSettings(db);
    const { id } = await rig.client.start('release-migration', { target: 'unfrozen', initiator: 'alice', input: { retry } });
    await gateOpen(id, 'upgrade');
    // After the rehearsal, the app (not frozen on this target) writes an invoice 0005's CHECK will refuse.
    expect(await asApp(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`)).toMatchObject({ ok: true });
    await rig.client.decide(id, 'upgrade', { decision: 'approve' }, bob);
    await gateOpen(id, 'rollback');
    const gate = await evidenceOf(id, 'rollback');
    expect(gate.prompt).toContain('The release failed on');
    expect(gate.prompt).toContain('check constraint "ck_invoices_estado"');
    expect((gate.evidence as { lost: unknown[] }).lost).toContainEqual(expect.objectContaining({ table: 'public.invoices', rows: 1, inBackup: true }));
    expect(gate.prompt).toContain('It would LOSE rows written since: invoices 1.');
    expect(gate.prompt).toContain('Tables the backup lacks (created since, e.g. by the failed release) go with their rows: import_batches 2');
    expect(await revisionOf(db)).toEqual(['0004_imports_payments']); // half-released: 0004 applied, 0005 failed

    await rig.client.decide(id, 'rollback', { decision: 'approve', comment: 'roll back, re-enter the one invoice by hand' }, { person: 'alice', roles: ['approver'] });
    const run = await finished(rig.client, id);
    const result = run.result as { healthy: boolean; findings: { outcome: string; rollback: { keptAs: string; proof: { role: string; statementTimeout: string } } } };
    expect(result).toMatchObject({ healthy: false, findings: { outcome: 'rolled-back', rollback: { proof: { role: 'gestiq_app', statementTimeout: '7s' } } } });
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await sql(db, `select to_regclass('import_items') as t`)).toEqual([{ t: null }]);
    expect(await sql(db, `select count(*)::int as n from invoices where estado = 'anulada'`)).toEqual([{ n: 0 }]);
    // Same database to its users: owner, grants and settings came back with it.
    expect(await databaseSettings(db)).toEqual(settingsBefore);
    expect(await asApp(db, 'select count(*)::int as n from tenants')).toMatchObject({ ok: true, rows: [{ n: 2 }] });
    // The failed database is kept for forensics, with the invoice and the half-built index.
    const kept = result.findings.rollback.keptAs;
    expect(await revisionOf(kept)).toEqual(['0004_imports_payments']);
    expect(await sql(kept, `select count(*)::int as n from invoices where estado = 'anulada'`)).toEqual([{ n: 1 }]);
    expect(await sql(kept, `select to_regclass('ix_invoices_estado')::text as ix`)).toEqual([{ ix: 'ix_invoices_estado' }]);
    expect(run.journal!.filter((e) => e.step === 'apply-upgrade' && e.kind === 'step').length).toBe(1);
  });

  it('stops before touching the live database when the rehearsal fails, and lifts its freeze', async () => {
    const db = dbs.bad!;
    await sql(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`);
    const { id } = await rig.client.start('release-migration', { target: 'bad', initiator: 'alice', input: { retry } });
    await gateOpen(id, 'freeze-writes');
    await rig.client.decide(id, 'freeze-writes', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    const result = run.result as { healthy: boolean; summary: string[]; findings: { outcome: string } };
    expect(result.findings.outcome).toBe('rehearsal-failed');
    expect(result.summary[0]).toMatch(/^The rehearsed upgrade to 0005_invoice_estado_check FAILED on a clone of rel_bad_\w+ after \d+ ms: .*ck_invoices_estado/s);
    expect(await revisionOf(db)).toEqual(['0003_invoices']);
    expect(await sql(db, `select to_regclass('ix_invoices_estado') as ix`)).toEqual([{ ix: null }]);
    expect(await asApp(db, `insert into tenants (name) values ('writable again')`)).toMatchObject({ ok: true });
    expect(run.journal!.some((e) => e.step === 'upgrade')).toBe(false);
  });

  it('refuses an unknown toRevision before anything is touched', async () => {
    const { id } = await rig.client.start('release-migration', { target: 'ahead', initiator: 'alice', input: { toRevision: '0099_nope', retry } });
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('Step "preflight" failed: Unknown toRevision "0099_nope": the code knows 0005_invoice_estado_check, 0004_imports_payments, 0003_invoices, 0002_products, 0001_tenants.');
    expect(await revisionOf(dbs.ahead!)).toEqual(['0002_products']);
    expect(await managedFor(dbs.ahead!)).toEqual([]);
  });
});
