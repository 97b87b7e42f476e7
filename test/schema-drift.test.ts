import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, fixtureApp, sql, startRig, writeTargets, type TestRig } from './support/harness.js';
import { gateOpened } from './support/harness.js';
import { appDatabase, asApp, dbTarget, dropAllFor, revisionOf } from './support/databases.js';
import { until } from './support/wait.js';

// schema-drift on the fixture: its models have tenants.name_display, which no migration creates
// (seed 000: `column "name_display" does not exist`).
describe('schema-drift', () => {
  let rig: TestRig;
  const dbs: Record<string, string> = {};
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };
  const versions = () => readdirSync(path.join(fixtureApp, 'migrations/versions')).filter((f) => f.endsWith('.py')).sort();
  let versionsBefore: string[];

  beforeAll(async () => {
    versionsBefore = versions();
    dbs.drift = await appDatabase('head', 'sd_drift');
    dbs.clean = await appDatabase('head', 'sd_clean');
    await sql(dbs.clean, 'alter table tenants add column name_display text');
    await sql(dbs.clean, 'create table legacy_exports (id serial primary key, payload text)');
    dbs.behind = await appDatabase('0003_invoices', 'sd_behind');
    rig = await startRig(writeTargets(Object.fromEntries(Object.entries(dbs).map(([k, db]) => [k, dbTarget(db)]))));
  });
  afterAll(async () => {
    await rig?.stop();
    for (const db of Object.values(dbs)) await dropAllFor(db);
  });
  const gateOpen = (id: string, gate: string) => gateOpened(rig.client, id, gate);
  const gateView = async (id: string, gate: string) => (await rig.client.status(id)).pendingGates.find((g) => g.gate === gate)!;

  it('adds the missing column through a rehearsed, generated revision, retries the failing query, and ends when the commit is confirmed', async () => {
    const db = dbs.drift!;
    const failing = 'select name_display from tenants';
    expect(await asApp(db, failing)).toMatchObject({ ok: false, code: '42703' });
    const { id } = await rig.client.start('schema-drift', { target: 'drift', initiator: 'alice', input: { retry, retrySql: failing } });
    await gateOpen(id, 'apply-revision');
    const gate = await gateView(id, 'apply-revision');
    expect(gate.prompt).toContain("op.add_column('tenants', sa.Column('name_display', sa.Text(), nullable=True))");
    expect(gate.prompt).toContain('No drift was left on the clone.');
    expect(await asApp(db, failing)).toMatchObject({ ok: false }); // not applied before approval
    await rig.client.decide(id, 'apply-revision', { decision: 'approve' }, bob);

    await gateOpen(id, 'confirm-commit');
    await rig.client.decide(id, 'confirm-commit', { decision: 'approve', comment: 'later' }, { person: 'alice', roles: ['operator'] });
    await until(async () => (await rig.client.status(id)).pendingGates.some((g) => g.gate === 'confirm-commit'), 'the commit question again');
    await rig.client.decide(id, 'confirm-commit', { decision: 'approve', comment: '3f9c2ab' }, { person: 'alice', roles: ['operator'] });
    const run = await finished(rig.client, id);
    const result = run.result as { healthy: boolean; summary: string[]; findings: { outcome: string; generated: { artifact: string; revId: string; content: string }; retried: { ok: boolean } } };
    expect(result).toMatchObject({ healthy: true, findings: { outcome: 'applied', retried: { ok: true } } });
    expect(result.summary).toContain('Migration file committed as 3f9c2ab (confirmed by alice).');
    expect(result.summary).toContain('alembic 1.8 does not compare column types by default (compare_type is off): a column whose type changed is not reported as drift.');
    expect(run.journal!.find((e) => e.step === 'confirm-commit' && e.kind === 'note')).toMatchObject({ error: '"later" is not a commit id (7 to 40 hex characters); asked again.' });
    // The database has the column and records the generated revision; the app's tree is untouched.
    expect(await asApp(db, failing)).toMatchObject({ ok: true });
    expect(await revisionOf(db)).toEqual([result.findings.generated.revId]);
    expect(versions()).toEqual(versionsBefore);
    // The artifact is the file to commit: a real alembic revision on top of the chain.
    const artifact = readFileSync(result.findings.generated.artifact, 'utf8');
    expect(artifact).toBe(result.findings.generated.content);
    expect(artifact).toContain(`revision = '${result.findings.generated.revId}'`);
    expect(artifact).toContain("down_revision = '0005_invoice_estado_check'");
    expect(artifact).toContain("op.drop_column('tenants', 'name_display')"); // its downgrade
    // The artifact and the run's copy of the app's tree are the worker user's only.
    const mode = (p: string) => statSync(p).mode & 0o777;
    const artifacts = path.dirname(result.findings.generated.artifact);
    const dataDir = path.dirname(path.dirname(artifacts));
    const work = path.join(dataDir, 'work', path.basename(artifacts));
    expect([dataDir, path.dirname(artifacts), artifacts, path.join(dataDir, 'work'), work, path.join(work, 'app')].map(mode)).toEqual(Array(6).fill(0o700));
    expect([result.findings.generated.artifact, path.join(work, 'app', 'alembic.ini'), path.join(work, 'run.json')].map(mode)).toEqual(Array(3).fill(0o600));

    // Until that file is in the code, release-migration refuses the database and says why.
    const release = await finished(rig.client, (await rig.client.start('release-migration', { target: 'drift', initiator: 'alice', input: { retry } })).id);
    expect(release.error).toContain(`is at ${result.findings.generated.revId}, which the code in`);
  });

  it('finds no drift when the models match, and lists the drops it refuses to generate', async () => {
    const run = await finished(rig.client, (await rig.client.start('schema-drift', { target: 'clean', initiator: 'alice', input: { retry } })).id);
    const result = run.result as { healthy: boolean; summary: string[]; findings: { outcome: string; drift: { refused: string[] } } };
    expect(result.findings.outcome).toBe('no-drift');
    expect(result.findings.drift.refused.join('\n')).toContain("op.drop_table('legacy_exports')");
    expect(result.summary[1]).toMatch(/^Refused \(never generated\): 1 drop\(s\)/);
    expect(await sql(dbs.clean!, `select to_regclass('legacy_exports')::text as t`)).toEqual([{ t: 'legacy_exports' }]);
    expect(run.journal!.some((e) => e.step === 'lock-target' || e.step === 'snapshot')).toBe(false);
  });

  it('refuses a database behind the code head, before anything runs', async () => {
    const run = await finished(rig.client, (await rig.client.start('schema-drift', { target: 'behind', initiator: 'alice', input: { retry } })).id);
    expect(run.error).toContain("is at 0003_invoices, not at the code's head (0005_invoice_estado_check): drift is measured at head. Run release-migration first");
    expect(existsSync(path.join(fixtureApp, 'migrations/versions'))).toBe(true);
  });
});
