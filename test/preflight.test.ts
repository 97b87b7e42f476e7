import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runbookCli } from './support/cli.js';
import {
  createDatabase,
  dropDatabase,
  historyText,
  pgTarget,
  repoRoot,
  sql,
  startRig,
  writeTargets,
  type TestRig,
} from './support/harness.js';

// `runbook preflight` runs the preflight runbook on the worker and waits for it: the CLI process
// reads no credential and touches no target (test/layering.test.ts checks what it loads).
describe('runbook preflight', () => {
  let db: string;
  let file: string;
  let rig: TestRig;
  const cli = (args: string[]) => runbookCli(args, { RUNBOOK_TARGETS: file, RUNBOOK_TASK_QUEUE: rig.taskQueue });

  beforeAll(async () => {
    db = await createDatabase();
    file = writeTargets({
      'good-db': pgTarget(db, {
        redis: { url: 'redis://127.0.0.1:6379/15' },
        services: { worker: { command: { start: 'sh -c true', stop: 'true' } } },
      }),
      'ignores-url-db': pgTarget(db, { alembic: { dir: path.join(repoRoot, 'test/fixtures/env-ignores-url') } }),
      'no-redis': { redis: { url: 'redis://127.0.0.1:1/0' } },
    });
    rig = await startRig(file);
  });
  afterAll(async () => {
    await rig?.stop();
    await dropDatabase(db);
  });

  it('passes every check on a well-configured target', async () => {
    const r = await cli(['preflight', 'good-db', '--json']);
    expect(r.code).toBe(0);
    const report = r.json() as { ok: boolean; run: string; checks: Array<{ check: string; ok: boolean }> };
    expect(report.ok).toBe(true);
    // A run like any other: in Temporal, with its steps journaled.
    const run = await rig.client.status(report.run);
    expect(run).toMatchObject({ runbook: 'preflight', target: 'good-db', status: 'completed' });
    expect(run.journal!.map((e) => e.step)).toEqual(['admit', 'resolve-target', 'checks']);
    expect(report.checks.map((c) => c.check)).toEqual([
      'connect',
      'privilege: CREATEDB',
      'privilege: database owner',
      'privilege: end sessions',
      'pg_dump version',
      'pg_restore version',
      'alembic env.py honours DATABASE_URL',
      'redis ping',
      'service worker: sh',
    ]);
  });

  it("fails when the app's env.py ignores the URL variable, and says so", async () => {
    const r = await cli(['preflight', 'ignores-url-db']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}alembic env\.py honours DATABASE_URL: alembic current did not use DATABASE_URL/);
    expect(r.stdout).toContain('fix: Make env.py read the URL from os.environ["DATABASE_URL"]');
    expect(r.stdout).toContain('1 check(s) failed.');
  });

  it('leaves no scratch database behind', async () => {
    expect((await cli(['preflight', 'good-db'])).code).toBe(0);
    const left = await sql('postgres', `select datname from pg_database where datname like 'rb_preflight_%'`);
    expect(left).toEqual([]);
  });

  it('reports an unreachable Redis with what to check', async () => {
    const r = await cli(['preflight', 'no-redis', '--json']);
    expect(r.code).toBe(1);
    const [check] = (r.json() as { checks: Array<{ check: string; ok: boolean; detail: string; fix?: string }> })
      .checks;
    expect(check).toMatchObject({ check: 'redis ping', ok: false });
    expect(check!.detail).toContain('redis://127.0.0.1:1/0');
    expect(check!.fix).toContain('Check that Redis runs');
    const run = await rig.client.list({ runbook: 'preflight', target: 'no-redis' });
    expect(await historyText(rig.client, run[0]!.id)).toContain('redis ping');
  });

  it('refuses a target the targets file does not name, starting nothing', async () => {
    const r = await cli(['preflight', 'no-such-target']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Target "no-such-target" is not in .*\(known: good-db, ignores-url-db, no-redis\)/);
    expect(await rig.client.list({ runbook: 'preflight', target: 'no-such-target' })).toEqual([]);
  });
});
