import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preflight } from '../src/preflight.js';
import { TargetRegistry } from '../src/targets.js';
import { runbookCli } from './support/cli.js';
import { createDatabase, dropDatabase, pgTarget, repoRoot, sql, writeTargets } from './support/harness.js';

describe('runbook preflight', () => {
  let db: string;
  let file: string;

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
  });
  afterAll(() => dropDatabase(db));

  it('passes every check on a well-configured target', async () => {
    const r = await runbookCli(['preflight', 'good-db', '--json'], { RUNBOOK_TARGETS: file });
    expect(r.code).toBe(0);
    const report = r.json() as { ok: boolean; checks: Array<{ check: string; ok: boolean }> };
    expect(report.ok).toBe(true);
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
    const r = await runbookCli(['preflight', 'ignores-url-db'], { RUNBOOK_TARGETS: file });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}alembic env\.py honours DATABASE_URL: alembic current did not use DATABASE_URL/);
    expect(r.stdout).toContain('fix: Make env.py read the URL from os.environ["DATABASE_URL"]');
    expect(r.stdout).toContain('1 check(s) failed.');
  });

  it('leaves no scratch database behind', async () => {
    await preflight(TargetRegistry.load(file), 'good-db');
    const left = await sql('postgres', `select datname from pg_database where datname like 'rb_preflight_%'`);
    expect(left).toEqual([]);
  });

  it('reports an unreachable Redis with what to check', async () => {
    const [check] = await preflight(TargetRegistry.load(file), 'no-redis');
    expect(check).toMatchObject({ check: 'redis ping', ok: false });
    expect(check!.detail).toContain('redis://127.0.0.1:1/0');
    expect(check!.fix).toContain('Check that Redis runs');
  });
});
