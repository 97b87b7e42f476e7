import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { janitorVerdict } from '../src/runbooks/janitor/workflow.js';
import {
  createDatabase,
  dropDatabase,
  finished,
  gateOpened,
  sql,
  startRig,
  tmpDir,
  uniqueName,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { dbTarget, dropAllFor } from './support/databases.js';

describe('janitor verdicts', () => {
  const day = 86_400_000;
  const now = Date.parse('2026-11-24T12:00:00Z');
  it('removes copies of ended runs at once, keeps snapshots within the retention, never touches an open run', () => {
    expect(janitorVerdict({ kind: 'clone', createdAt: '2026-11-24T11:59:00Z' }, false, now, 7 * day)).toEqual({
      remove: true,
      reason: 'a clone of a run that has ended',
    });
    expect(janitorVerdict({ kind: 'snapshot', createdAt: '2026-11-23T12:00:00Z' }, false, now, 7 * day)).toEqual({
      remove: false,
      reason: 'within the retention (144 h left)',
    });
    expect(janitorVerdict({ kind: 'snapshot', createdAt: '2026-11-10T12:00:00Z' }, false, now, 7 * day)).toEqual({
      remove: true,
      reason: 'older than the retention (336 h)',
    });
    expect(janitorVerdict({ kind: 'scratch', createdAt: '2026-11-01T12:00:00Z' }, true, now, 7 * day)).toEqual({
      remove: false,
      reason: 'its run is still open',
    });
    // A run's copy of the app's tree goes with its run; a generated file stays for the retention, to be committed.
    expect(janitorVerdict({ kind: 'work', createdAt: '2026-11-24T11:00:00Z' }, false, now, 7 * day)).toEqual({
      remove: true,
      reason: 'a work copy of a run that has ended',
    });
    expect(janitorVerdict({ kind: 'work', createdAt: '2026-11-01T12:00:00Z' }, true, now, 7 * day)).toEqual({
      remove: false,
      reason: 'its run is still open',
    });
    expect(janitorVerdict({ kind: 'artifact', createdAt: '2026-11-23T12:00:00Z' }, false, now, 7 * day)).toEqual({
      remove: false,
      reason: 'within the retention (144 h left)',
    });
    expect(janitorVerdict({ kind: 'artifact', createdAt: '2026-11-10T12:00:00Z' }, false, now, 7 * day)).toEqual({
      remove: true,
      reason: 'older than the retention (336 h)',
    });
  });
});

describe('janitor', () => {
  const bob = { person: 'bob', roles: ['approver'] };
  let rig: TestRig;
  let live: string;
  let backups: string;
  const dataDir = tmpDir('jan-data-');
  beforeAll(async () => {
    live = await createDatabase('jan');
    backups = tmpDir('jan-backups-');
    rig = await startRig(writeTargets({ jan: { ...dbTarget(live), backups: { dir: backups, retention: '7d' } } }), {
      dataDir,
    });
  });
  afterAll(async () => {
    await rig?.stop();
    await dropAllFor(live);
  });

  /** A database labelled as ours, as the database runbooks label theirs. */
  async function ours(kind: string, createdAt: string, run = 'a-run-that-ended') {
    const name = uniqueName(`${live}_${kind}`).slice(0, 63);
    await sql('postgres', `create database ${name}`);
    await sql(
      'postgres',
      `comment on database ${name} is '${JSON.stringify({ durableRunbooks: 1, kind, target: 'jan', live, run, createdAt })}'`,
    );
    return name;
  }

  it('drops leftover copies and expired snapshots with their dumps, keeps recent ones and databases that are not ours, only on approval', async () => {
    const now = Date.now();
    const clone = await ours('clone', new Date(now - 60_000).toISOString());
    const expired = await ours('snapshot', new Date(now - 30 * 86_400_000).toISOString());
    const recent = await ours('snapshot', new Date(now - 3_600_000).toISOString());
    const notOurs = await createDatabase(`${live}_snap`);
    for (const [name, age] of [
      [expired, 30 * 86_400_000],
      [recent, 3_600_000],
    ] as const) {
      mkdirSync(path.join(backups, 'jan', name), { recursive: true });
      writeFileSync(
        path.join(backups, 'jan', name, 'manifest.json'),
        JSON.stringify({ createdAt: new Date(now - age).toISOString(), totalBytes: 1 }),
      );
    }
    const dry = await finished(
      rig.client,
      (await rig.client.start('janitor', { target: 'jan', initiator: 'alice', dryRun: true })).id,
    );
    expect((dry.result as { summary: string[] }).summary[0]).toMatch(/^Dry run: would remove 3: /);
    expect(
      await sql('postgres', 'select count(*)::int as n from pg_database where datname = any($1)', [
        [clone, expired, recent],
      ]),
    ).toEqual([{ n: 3 }]);

    // A rejection drops nothing.
    const refused = (await rig.client.start('janitor', { target: 'jan', initiator: 'alice' })).id;
    await gateOpened(rig.client, refused, 'remove');
    const gate = (await rig.client.status(refused)).pendingGates.find((g) => g.gate === 'remove')!;
    expect(gate.prompt).toMatch(/^Drop 3 leftover\(s\) of durable-runbooks on jan for good: /);
    for (const name of [clone, expired]) expect(gate.prompt).toContain(name);
    expect(gate.prompt).not.toContain(recent);
    await rig.client.decide(refused, 'remove', { decision: 'reject', comment: 'not tonight' }, bob);
    expect((await finished(rig.client, refused)).status).toBe('aborted');
    expect(
      await sql('postgres', 'select count(*)::int as n from pg_database where datname = any($1)', [
        [clone, expired, recent],
      ]),
    ).toEqual([{ n: 3 }]);
    expect(existsSync(path.join(backups, 'jan', expired))).toBe(true);

    const approved = (await rig.client.start('janitor', { target: 'jan', initiator: 'alice' })).id;
    await gateOpened(rig.client, approved, 'remove');
    await rig.client.decide(approved, 'remove', { decision: 'approve' }, bob);
    const run = await finished(rig.client, approved);
    const removed = (run.result as { findings: { removed: Array<{ name: string; reason: string }> } }).findings.removed;
    expect(removed.map((r) => r.name).sort()).toEqual([clone, expired, expired].sort());
    const left = (
      await sql<{ datname: string }>('postgres', 'select datname from pg_database where datname = any($1)', [
        [clone, expired, recent, notOurs],
      ])
    )
      .map((r) => r.datname)
      .sort();
    expect(left).toEqual([notOurs, recent].sort());
    expect(existsSync(path.join(backups, 'jan', expired))).toBe(false);
    expect(existsSync(path.join(backups, 'jan', recent))).toBe(true);
    await dropDatabase(notOurs);
  });

  /** A run's work copy or artifacts on the worker's host, as schema-drift leaves them. */
  function runFiles(root: 'work' | 'artifacts', run: string, ageMs: number, target = 'jan') {
    const dir = path.join(dataDir, root, run);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'run.json'),
      JSON.stringify({ run, target, createdAt: new Date(Date.now() - ageMs).toISOString() }),
    );
    writeFileSync(
      path.join(dir, root === 'work' ? '.env' : '0006_generated.py'),
      'DATABASE_URL=postgresql://app:pw@db/gestiq\n',
    );
    return dir;
  }

  it("removes ended runs' work copies and artifacts past the retention from the host, keeps an open run's and fresh ones", async () => {
    const day = 86_400_000;
    const open = (await rig.client.start('approval-drill', { target: 'jan', initiator: 'alice' })).id;
    await gateOpened(rig.client, open, 'proceed');
    const oldWork = runFiles('work', 'schema-drift-jan-old1', 30 * day);
    const openWork = runFiles('work', open, 30 * day);
    const oldArtifact = runFiles('artifacts', 'schema-drift-jan-old1', 30 * day);
    const freshArtifact = runFiles('artifacts', 'schema-drift-jan-new1', 3_600_000);
    const otherTarget = runFiles('work', 'schema-drift-other-old1', 30 * day, 'other');

    const dry = await finished(
      rig.client,
      (await rig.client.start('janitor', { target: 'jan', initiator: 'alice', dryRun: true })).id,
    );
    expect((dry.result as { summary: string[] }).summary[0]).toBe(
      'Dry run: would remove 2: schema-drift-jan-old1 (a work copy of a run that has ended), schema-drift-jan-old1 (older than the retention (720 h)).',
    );
    for (const dir of [oldWork, oldArtifact]) expect(existsSync(dir)).toBe(true);

    const approved = (await rig.client.start('janitor', { target: 'jan', initiator: 'alice' })).id;
    await gateOpened(rig.client, approved, 'remove');
    await rig.client.decide(approved, 'remove', { decision: 'approve' }, bob);
    const run = await finished(rig.client, approved);
    expect((run.result as { findings: { removed: Array<{ name: string; kind: string }> } }).findings.removed).toEqual([
      { name: 'schema-drift-jan-old1', kind: 'work', reason: 'a work copy of a run that has ended' },
      { name: 'schema-drift-jan-old1', kind: 'artifact', reason: 'older than the retention (720 h)' },
    ]);
    expect([oldWork, oldArtifact, openWork, freshArtifact, otherTarget].map(existsSync)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    await rig.client.abort(open, 'alice', 'drill over');
  });
});
