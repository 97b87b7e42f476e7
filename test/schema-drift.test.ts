import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities/index.js';
import { planDigest } from '../src/contract/signing.js';
import { TargetRegistry } from '../src/targets.js';
import { sqlShape } from '../src/util/sql-statement.js';
import {
  finished,
  fixtureApp,
  PG,
  sql,
  startRig,
  tmpDir,
  uniqueName,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { gateOpened } from './support/harness.js';
import { APP_ROLE, appDatabase, asApp, dbTarget, dropAllFor, revisionOf } from './support/databases.js';
import { until } from './support/wait.js';

// schema-drift on the fixture: its models have tenants.name_display, which no migration creates
// (seed 000: `column "name_display" does not exist`).
describe('schema-drift', () => {
  let rig: TestRig;
  const dbs: Record<string, string> = {};
  const bob = { person: 'bob', roles: ['approver'] };
  const retry = { initialInterval: '200 ms', maximumAttempts: 2 };
  const versions = () =>
    readdirSync(path.join(fixtureApp, 'migrations/versions'))
      .filter((f) => f.endsWith('.py'))
      .sort();
  let versionsBefore: string[];
  // Roles retrySql must never run as: a superuser, a member of one, a member of pg_execute_server_program.
  const roles = {
    superuser: uniqueName('rb_super'),
    member: uniqueName('rb_member'),
    program: uniqueName('rb_program'),
  };
  let activities: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    versionsBefore = versions();
    dbs.drift = await appDatabase('head', 'sd_drift');
    dbs.clean = await appDatabase('head', 'sd_clean');
    await sql(dbs.clean, 'alter table tenants add column name_display text');
    await sql(dbs.clean, 'create table legacy_exports (id serial primary key, payload text)');
    dbs.behind = await appDatabase('0003_invoices', 'sd_behind');
    await sql('postgres', `create role ${roles.superuser} superuser nologin`);
    await sql('postgres', `create role ${roles.member} login in role ${roles.superuser}`);
    await sql('postgres', `create role ${roles.program} login in role pg_execute_server_program`);
    await sql('postgres', `grant connect on database ${dbs.clean} to ${roles.member}, ${roles.program}`);
    const onClean = (appUser?: string) => ({
      ...dbTarget(dbs.clean!),
      postgres: { ...PG, database: dbs.clean, ...(appUser ? { appUser } : {}) },
    });
    const file = writeTargets({
      ...Object.fromEntries(Object.entries(dbs).map(([k, db]) => [k, dbTarget(db)])),
      'ops-only': onClean(),
      'as-postgres': onClean('postgres'),
      'as-member': onClean(roles.member),
      'as-program': onClean(roles.program),
    });
    rig = await startRig(file);
    activities = createActivities({
      targets: TargetRegistry.load(file, process.env),
      dataDir: tmpDir('runbooks-data-'),
    });
  });
  afterAll(async () => {
    await rig?.stop();
    for (const db of Object.values(dbs)) await dropAllFor(db);
    for (const role of [roles.member, roles.program, roles.superuser])
      await sql('postgres', `drop role if exists ${role}`);
  });
  const gateOpen = (id: string, gate: string) => gateOpened(rig.client, id, gate);
  const gateView = async (id: string, gate: string) =>
    (await rig.client.status(id)).pendingGates.find((g) => g.gate === gate)!;

  it('adds the missing column through a rehearsed, generated revision, retries the failing query, and ends when the commit is confirmed', async () => {
    const db = dbs.drift!;
    const failing = 'select name_display from tenants';
    expect(await asApp(db, failing)).toMatchObject({ ok: false, code: '42703' });
    const { id } = await rig.client.start('schema-drift', {
      target: 'drift',
      initiator: 'alice',
      input: { retry, retrySql: failing },
    });
    await gateOpen(id, 'apply-revision');
    const gate = await gateView(id, 'apply-revision');
    expect(gate.prompt).toContain("op.add_column('tenants', sa.Column('name_display', sa.Text(), nullable=True))");
    expect(gate.prompt).toContain('No drift was left on the clone.');
    // The approver sees what runs after the change, and approves it: it is in the plan digest.
    expect(gate.prompt).toContain(
      `Then the failing operation is retried: one SQL statement as the app's role ${APP_ROLE} (checked: no superuser), in a transaction that is always rolled back (statement_timeout 30s): ${failing}`,
    );
    expect(gate.evidence).toMatchObject({ retry: { sql: failing, role: APP_ROLE } });
    expect(gate.planDigest).toBe(planDigest('apply-revision', gate.prompt, gate.evidence));
    expect(await asApp(db, failing)).toMatchObject({ ok: false }); // not applied before approval
    await rig.client.decide(id, 'apply-revision', { decision: 'approve' }, bob);

    await gateOpen(id, 'confirm-commit');
    await rig.client.decide(
      id,
      'confirm-commit',
      { decision: 'approve', comment: 'later' },
      { person: 'alice', roles: ['operator'] },
    );
    await until(
      async () => (await rig.client.status(id)).pendingGates.some((g) => g.gate === 'confirm-commit'),
      'the commit question again',
    );
    await rig.client.decide(
      id,
      'confirm-commit',
      { decision: 'approve', comment: '3f9c2ab' },
      { person: 'alice', roles: ['operator'] },
    );
    const run = await finished(rig.client, id);
    const result = run.result as {
      healthy: boolean;
      summary: string[];
      findings: {
        outcome: string;
        generated: { artifact: string; revId: string; content: string };
        retried: { ok: boolean };
      };
    };
    expect(result).toMatchObject({
      healthy: true,
      findings: { outcome: 'applied', retried: { ok: true, role: APP_ROLE, rolledBack: true } },
    });
    expect(result.summary).toContain('Migration file committed as 3f9c2ab (confirmed by alice).');
    expect(result.summary).toContain(
      'alembic 1.8 does not compare column types by default (compare_type is off): a column whose type changed is not reported as drift.',
    );
    expect(run.journal!.find((e) => e.step === 'confirm-commit' && e.kind === 'note')).toMatchObject({
      error: '"later" is not a commit id (7 to 40 hex characters); asked again.',
    });
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
    expect(
      [dataDir, path.dirname(artifacts), artifacts, path.join(dataDir, 'work'), work, path.join(work, 'app')].map(mode),
    ).toEqual(Array(6).fill(0o700));
    expect(
      [result.findings.generated.artifact, path.join(work, 'app', 'alembic.ini'), path.join(work, 'run.json')].map(
        mode,
      ),
    ).toEqual(Array(3).fill(0o600));

    // Until that file is in the code, release-migration refuses the database and says why.
    const release = await finished(
      rig.client,
      (await rig.client.start('release-migration', { target: 'drift', initiator: 'alice', input: { retry } })).id,
    );
    expect(release.error).toContain(`is at ${result.findings.generated.revId}, which the code in`);
  });

  it('finds no drift when the models match, and lists the drops it refuses to generate', async () => {
    const run = await finished(
      rig.client,
      (await rig.client.start('schema-drift', { target: 'clean', initiator: 'alice', input: { retry } })).id,
    );
    const result = run.result as {
      healthy: boolean;
      summary: string[];
      findings: { outcome: string; drift: { refused: string[] } };
    };
    expect(result.findings.outcome).toBe('no-drift');
    expect(result.findings.drift.refused.join('\n')).toContain("op.drop_table('legacy_exports')");
    expect(result.summary[1]).toMatch(/^Refused \(never generated\): 1 drop\(s\)/);
    expect(await sql(dbs.clean!, `select to_regclass('legacy_exports')::text as t`)).toEqual([{ t: 'legacy_exports' }]);
    expect(run.journal!.some((e) => e.step === 'lock-target' || e.step === 'snapshot')).toBe(false);
  });

  it('refuses a database behind the code head, before anything runs', async () => {
    const run = await finished(
      rig.client,
      (await rig.client.start('schema-drift', { target: 'behind', initiator: 'alice', input: { retry } })).id,
    );
    expect(run.error).toContain(
      "is at 0003_invoices, not at the code's head (0005_invoice_estado_check): drift is measured at head. Run release-migration first",
    );
    expect(existsSync(path.join(fixtureApp, 'migrations/versions'))).toBe(true);
  });

  describe('retrySql is confined', () => {
    const probeRows = async (name: string) => sql(dbs.clean!, 'select id from tenants where name = $1', [name]);
    const several = "select 1; commit; insert into tenants (name) values ('retry-probe-commit')";

    it('refuses several statements at the API, and in the worker before any change when started around the API', async () => {
      await expect(
        rig.client.start('schema-drift', { target: 'clean', initiator: 'alice', input: { retry, retrySql: several } }),
      ).rejects.toThrow('input.retrySql: retrySql holds 3 statements: give exactly the one statement that was failing');
      // As the Temporal UI or the temporal CLI would start it: no API in the way.
      const id = uniqueName('sd-raw');
      await rig.client.temporal.workflow.start('schemaDrift', {
        taskQueue: rig.taskQueue,
        workflowId: id,
        args: [{ target: 'clean', initiator: 'mallory', retry, retrySql: several }],
      });
      const run = await finished(rig.client, id);
      expect(run.error).toContain('retrySql holds 3 statements: give exactly the one statement that was failing');
      expect(run.journal!.some((e) => e.step === 'detect-drift' || e.step === 'lock-target')).toBe(false);
      expect(await probeRows('retry-probe-commit')).toEqual([]);
    });

    it('refuses, before any change, a target that names no app role rather than retry as the ops role', async () => {
      const run = await finished(
        rig.client,
        (
          await rig.client.start('schema-drift', {
            target: 'ops-only',
            initiator: 'alice',
            input: { retry, retrySql: 'select name_display from tenants' },
          })
        ).id,
      );
      expect(run.error).toContain('Target "ops-only" names no app role (postgres.appUser in ');
      expect(run.error).toContain(
        "retrySql runs only as the app's own non-superuser role, never as the ops role: declare postgres.appUser",
      );
      expect(run.journal!.some((e) => e.step === 'detect-drift')).toBe(false);
    });

    it('runs one statement as the app role and rolls it back', async () => {
      const r = await activities.pgRetryAsApp(
        'clean',
        "insert into tenants (name) values ('retry-probe-insert') returning id",
      );
      expect(r).toMatchObject({ ok: true, rowCount: 1, role: APP_ROLE, rolledBack: true });
      expect(await probeRows('retry-probe-insert')).toEqual([]);
    });

    it('refuses several statements and transaction control in the worker, and nothing of them persists', async () => {
      await expect(activities.pgRetryAsApp('clean', several)).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringContaining('retrySql holds 3 statements') as string,
      });
      await expect(activities.pgRetryAsApp('clean', '/* the retry ends here */ COMMIT')).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringContaining('retrySql is transaction control (COMMIT)') as string,
      });
      expect(await probeRows('retry-probe-commit')).toEqual([]);
    });

    it('refuses to run as a superuser, a member of one, or a member of pg_execute_server_program, and runs nothing', async () => {
      const marker = path.join(tmpDir('retry-program-'), 'ran');
      await expect(activities.pgRetryAsApp('as-postgres', 'select 1')).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringMatching(
          /^Role "postgres" \(postgres\.appUser of target "as-postgres"\) is a superuser, and retrySql runs only as a non-superuser role: declare the app's own non-superuser role as postgres\.appUser in /,
        ) as string,
      });
      await expect(
        activities.pgRetryAsApp('as-member', `copy (select 1) to program 'touch ${marker}'`),
      ).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringContaining(`is a member of the superuser role ${roles.superuser}`) as string,
      });
      await expect(
        activities.pgRetryAsApp('as-program', `copy (select 1) to program 'touch ${marker}'`),
      ).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringContaining(
          'is a member of pg_execute_server_program, which reach outside a rolled-back transaction',
        ) as string,
      });
      await expect(activities.pgRetryAsApp('ops-only', 'select 1')).rejects.toMatchObject({
        type: 'RetrySqlRefused',
        message: expect.stringContaining('names no app role') as string,
      });
      expect(existsSync(marker)).toBe(false);
    });

    it(
      'ends a statement that outlives its timeout, even one that catches the cancel',
      { timeout: 30_000 },
      async () => {
        const stubborn =
          'do $$ begin loop begin perform pg_sleep(0.2); exception when query_canceled then null; end; end loop; end $$';
        const started = Date.now();
        const r = await activities.pgRetryAsApp('clean', stubborn, { statementTimeout: '1s' });
        expect(r).toMatchObject({
          ok: false,
          role: APP_ROLE,
          error: expect.stringContaining('it ran past its 1s statement_timeout and its session was ended') as string,
        });
        expect(Date.now() - started).toBeLessThan(15_000);
        await until(
          async () =>
            (
              await sql(
                'postgres',
                `select 1 from pg_stat_activity where datname = $1 and application_name = 'durable-runbooks-retry'`,
                [dbs.clean],
              )
            ).length === 0,
          'the retry session gone',
        );
      },
    );

    it("agrees with PostgreSQL's own parser on where statements end", async () => {
      const texts = [
        'select 1',
        'select 1;',
        'select 1;; ',
        'select 1; select 2',
        "select 'a;b'",
        "select 'it''s'; select 2",
        "select E'\\\\'; select 2",
        "select E'\\'; select 2; --'",
        'select "a;b"',
        'select $$;$$',
        'select $t$ $$ ; $$ $t$',
        'select $a$;$b$;$a$; select 2',
        'select a$b$c; select 2',
        'select 1 /* ; /* ; */ ; */',
        'select 1 -- ;\n',
        'select 1 -- x\n; select 2',
        "select U&'d\\0061t;a'",
        "select B'1010', X'1F'; select 2",
      ];
      const client = new pg.Client({ ...PG, user: APP_ROLE, database: dbs.clean });
      await client.connect();
      try {
        for (const text of texts) {
          await client.query('begin');
          const query: pg.QueryConfig & { queryMode: 'extended' } = { text, queryMode: 'extended' };
          const several = await client.query(query).then(
            () => false,
            (err: Error) => /multiple commands/.test(err.message),
          );
          await client.query('rollback');
          expect({ text, several: sqlShape(text).statements > 1 }).toEqual({ text, several });
        }
      } finally {
        await client.end();
      }
    });
  });
});
