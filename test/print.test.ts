import { describe, expect, it } from 'vitest';
import { runbookCli } from './support/cli.js';
import { pgTarget, writeTargets } from './support/harness.js';

describe('runbook print', () => {
  it('prints db-access as numbered steps with the commands for the target, without Temporal', async () => {
    const file = writeTargets({
      'print-db': pgTarget('gestiq', {
        postgres: {
          host: 'db.internal',
          port: 6432,
          database: 'gestiq',
          user: 'ops',
          passwordEnv: 'GESTIQ_DB_PASSWORD',
        },
        taskQueue: 'gestiq-host-1',
      }),
    });
    const r = await runbookCli(['print', 'db-access', '--target', 'print-db'], {
      RUNBOOK_TARGETS: file,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(r.code).toBe(0);
    const steps = r.stdout
      .split('\n')
      .filter((l) => /^\d+\. /.test(l))
      .map((l) => /^\d+\. \*\*([^*]+)\*\*/.exec(l)?.[1]);
    expect(steps).toEqual([
      'resolve-target',
      'select-1',
      'connections',
      'applied-revision',
      'alembic-heads',
      'long-transactions',
      'blocking-locks',
      'report-finding',
    ]);
    expect(r.stdout).toContain('8. **report-finding** (only with schedule): Started by a schedule and found a problem');
    expect(r.stdout).toContain(
      'PGPASSWORD="$GESTIQ_DB_PASSWORD" psql "host=db.internal port=6432 dbname=gestiq user=ops" -Atc "select 1"',
    );
    expect(r.stdout).toContain('5. **alembic-heads** (on the app host (worker queue gestiq-host-1))');
    expect(r.stdout).toContain('Read-only: changes nothing on the target.');
  });

  it('uses the shipped local targets when no targets file is named, and needs no server', async () => {
    const r = await runbookCli(['print', 'db-access', '--target', 'local-db'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('psql "host=127.0.0.1 port=5432 dbname=test user=postgres" -Atc "select 1"');
  });

  it('says what to do when Temporal cannot be reached', async () => {
    const r = await runbookCli(['ls'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot reach Temporal at 127.0.0.1:1');
    expect(r.stderr).toContain('Is TEMPORAL_ADDRESS right? A server that requires TLS also needs TEMPORAL_TLS_CA');
  });

  it('gives the same procedure as JSON', async () => {
    const r = await runbookCli(['print', 'approval-drill', '--json'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const proc = r.json() as { runbook: string; changesTarget: boolean; steps: Array<{ id: string; kind: string }> };
    expect(proc.runbook).toBe('approval-drill');
    expect(proc.steps.map((s) => `${s.kind}:${s.id}`)).toEqual([
      'step:lock-target',
      'gate:proceed',
      'step:record-decision',
    ]);
  });

  it('marks gates and how to decide them', async () => {
    const r = await runbookCli(['print', 'approval-drill'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.stdout).toContain("1. **lock-target** (only with takeLock): Take the target's lock");
    expect(r.stdout).toContain('2. **proceed** (⛔ approval gate): Approve to proceed');
    expect(r.stdout).toContain('Decide: `runbook approve <id> proceed`');
  });
});
