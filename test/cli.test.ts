import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runbookCli } from './support/cli.js';
import { pgTarget, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

describe('runbook CLI', () => {
  let rig: TestRig;
  let env: Record<string, string>;

  beforeAll(async () => {
    const file = writeTargets({
      'cli-db': pgTarget('test'),
      'secret-db': {
        postgres: {
          host: '127.0.0.1',
          port: 5432,
          database: 'test',
          user: 'postgres',
          passwordEnv: 'RB_TEST_UNSET_PASSWORD',
        },
      },
    });
    rig = await startRig(file);
    env = { RUNBOOK_TARGETS: file, RUNBOOK_TASK_QUEUE: rig.taskQueue };
  });
  afterAll(() => rig?.stop());

  const runsOn = async (target: string) => (await rig.client.list({ target })).length;

  it('starts db-access, then shows it completed with its result, and lists it', async () => {
    const started = await runbookCli(['start', 'db-access', '--target', 'cli-db', '--as', 'alice', '--json'], env);
    expect(started.stderr).toBe('');
    const { id } = started.json() as { id: string };
    expect(id).toMatch(/^db-access-cli-db-[0-9a-z]+$/);

    let status: Record<string, unknown> = {};
    await until(async () => {
      status = (await runbookCli(['status', id, '--json'], env)).json();
      return status.status === 'completed';
    }, 'the run to complete');
    expect(status).toMatchObject({
      id,
      runbook: 'db-access',
      target: 'cli-db',
      status: 'completed',
      initiator: 'alice',
    });
    expect((status.result as { summary: string[] }).summary[0]).toContain('Connected to 127.0.0.1:5432/test');

    const human = await runbookCli(['status', id], env);
    expect(human.stdout).toContain(`${id}: completed`);
    expect(human.stdout).toContain('Connections:');

    // Visibility (the list) is eventually consistent with the run itself.
    await until(async () => {
      const ls = (await runbookCli(['ls', '--target', 'cli-db', '--json'], env)).json() as {
        runs: Array<{ id: string; status: string }>;
      };
      return ls.runs.some((r) => r.id === id && r.status === 'completed');
    }, 'the completed run to be listed');
  });

  it('refuses an unknown runbook and starts nothing', async () => {
    const before = await runsOn('cli-db');
    const r = await runbookCli(['start', 'db-acess', '--target', 'cli-db'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'Unknown runbook "db-acess" (known: approval-drill, connection-refused, db-access, einvoicing-failed, janitor, login-errors, migration-failed, missing-container-file, observability-check, payments-failed, preflight, pwa-stale-cache, redis-health, release-migration, schema-drift, stuck-imports).',
    );
    expect(await runsOn('cli-db')).toBe(before);
  });

  it('refuses an unknown target, naming the file and the known targets, and starts nothing', async () => {
    const r = await runbookCli(['start', 'db-access', '--target', 'prod-db'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`Target "prod-db" is not in ${env.RUNBOOK_TARGETS} (known: cli-db, secret-db).`);
    expect(await runsOn('prod-db')).toBe(0);
  });

  it("leaves a target's credentials to the worker: a password variable unset there fails the run at its first step, naming the variable", async () => {
    // The CLI (like the API) knows target names only; it no longer reads, or checks, a password.
    const started = await runbookCli(['start', 'db-access', '--target', 'secret-db', '--json'], env);
    expect(started.stderr).toBe('');
    const { id } = started.json() as { id: string };
    let status: Record<string, unknown> = {};
    await until(async () => {
      status = (await runbookCli(['status', id, '--json'], env)).json();
      return status.status === 'failed';
    }, 'the run to fail');
    expect(status.error).toContain(
      "takes its password from RB_TEST_UNSET_PASSWORD, which is not set in the worker's environment",
    );
  });

  it('refuses invalid runbook input, naming the field', async () => {
    const r = await runbookCli(
      ['start', 'db-access', '--target', 'cli-db', '--input', '{"longTransactionSeconds": "soon"}'],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Invalid input for db-access: input\.longTransactionSeconds: .*number/);
  });

  it('refuses to start from a malformed targets file, naming the file, the target and the field', async () => {
    const bad = `${tmpDir()}/targets.yaml`;
    writeFileSync(
      bad,
      'targets:\n  broken-db:\n    postgres: { host: 127.0.0.1, port: "fifty", database: test, user: postgres }\n',
    );
    const r = await runbookCli(['start', 'db-access', '--target', 'broken-db'], { ...env, RUNBOOK_TARGETS: bad });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`Targets file ${bad} is invalid:`);
    expect(r.stderr).toContain('target "broken-db", field postgres.port:');
    expect(await runsOn('broken-db')).toBe(0);
  });

  it("approve shows the gate's evidence as words before deciding, and as JSON with --json", async () => {
    const { id } = await rig.client.start('approval-drill', {
      target: 'cli-db',
      initiator: 'alice',
      input: { prompt: 'Drill from the CLI test.' },
    });
    await until(
      async () => (await rig.client.status(id)).pendingGates.some((g) => g.gate === 'proceed'),
      'the drill to wait at its gate',
    );
    // Shown before the decision is sent, whatever becomes of it (this target refuses unsigned decisions).
    const text = await runbookCli(['approve', id, 'proceed', '--as', 'bob'], env);
    expect(text.stderr).toMatch(/^Plan of gate "proceed" \(digest [0-9a-f]{16}\):\n/);
    expect(text.stderr).toContain(
      ':\n  Drill from the CLI test.\n  evidence:\n    Details:\n      Drill: yes\n      Target: cli-db\nrunbook: Unsigned decisions are not accepted',
    );
    const json = await runbookCli(['approve', id, 'proceed', '--as', 'bob', '--json'], env);
    expect(json.stderr).toContain('\n  evidence: {"drill":true,"target":"cli-db"}\n');
    await rig.client.temporal.workflow.getHandle(id).terminate('cli test done'); // unsigned aborts are refused here too
  });

  it('says what to do when asked about a run that does not exist', async () => {
    const r = await runbookCli(['status', 'db-access-nope-123'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Run "db-access-nope-123" not found. List runs with: runbook ls');
  });
});
