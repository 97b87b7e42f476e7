import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ScheduleError, type RunSummary } from '../src/client.js';
import type { DbAccessFindings } from '../src/runbooks/db-access/workflow.js';
import type { RunbookResult } from '../src/contract/types.js';
import { apiWithDevTokens } from './support/api.js';
import {
  alembic,
  createDatabase,
  dropDatabase,
  finished,
  pgTarget,
  startRig,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import { runbookCli } from './support/cli.js';
import { startReceiver } from './support/receiver.js';
import { until } from './support/wait.js';

describe('scheduled checks', () => {
  const suffix = randomBytes(3).toString('hex');
  // Both targets deny unsigned starts: scheduled runs are admitted by the schedule's signature, escalations by their check run.
  const healthy = `sched-ok-${suffix}`;
  const behindTarget = `sched-behind-${suffix}`;
  const cliTarget = `sched-cli-${suffix}`; // allows unsigned starts, as a development targets file does
  let env: Record<string, string>;
  let rig: TestRig;
  let api: FastifyInstance;
  let tokens: Record<'alice' | 'bob' | 'carol', string>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let behind: string;
  const created: string[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    behind = await createDatabase();
    await alembic(behind, ['upgrade', '0001_tenants']);
    const deny = { policy: { unsignedStarts: 'deny' } };
    const file = writeTargets({
      [healthy]: pgTarget('test', deny),
      [cliTarget]: pgTarget('test'),
      [behindTarget]: pgTarget(behind, {
        ...deny,
        notify: [{ webhook: `${receiver.url}/hook` }],
        schedules: { 'db-access': { escalate: 'approval-drill' } },
      }),
    });
    rig = await startRig(file, { signingKey: randomBytes(32).toString('hex') });
    env = { RUNBOOK_TARGETS: file, RUNBOOK_TASK_QUEUE: rig.taskQueue };
    ({ api, tokens } = await apiWithDevTokens(rig.signed));
  });
  afterAll(async () => {
    await Promise.all(created.map((id) => rig?.signed.deleteSchedule(id).catch(() => undefined)));
    await api?.close();
    await rig?.stop();
    await receiver?.close();
    if (behind) await dropDatabase(behind);
  });

  const create = async (target: string) => {
    const s = await rig.signed.createSchedule('db-access', target, '15m', { initiator: 'alice' });
    created.push(s.id);
    return s;
  };
  /** The schedule's runs of db-access, once `n` of them have completed. */
  const completedRuns = async (target: string, n: number): Promise<RunSummary[]> => {
    let runs: RunSummary[] = [];
    await until(async () => {
      runs = (await rig.client.list({ runbook: 'db-access', target })).filter((r) => r.status === 'completed');
      return runs.length >= n;
    }, `${n} completed scheduled run(s) on ${target}`);
    return runs;
  };

  it('creates a schedule whose triggered run checks the target, signed and findable by its initiator', async () => {
    const s = await create(healthy);
    expect(s).toMatchObject({
      id: `check-db-access-${healthy}`,
      runbook: 'db-access',
      target: healthy,
      every: '15m',
      paused: false,
      createdBy: 'alice',
      signed: true,
    });
    expect(s.uiUrl).toBe(`http://localhost:8233/namespaces/default/schedules/check-db-access-${healthy}`);
    await rig.signed.triggerSchedule(s.id);
    const [run] = await completedRuns(healthy, 1);
    expect(run!.id.startsWith(`${s.id}-`)).toBe(true);
    expect(run!.initiator).toBe(`schedule:${s.id}`);
    const view = await finished(rig.client, run!.id);
    expect((view.result as RunbookResult<DbAccessFindings>).findings.connectivity.database).toBe('test');
    // Admitted on a target that denies unsigned starts: through the schedule's channel, signed.
    expect(view.journal!.find((e) => e.step === 'admit')!.channel).toEqual({ via: 'schedule', signed: true });
    expect((await rig.signed.describeSchedule(s.id)).recentRuns.map((r) => r.id)).toContain(run!.id);
  });

  it('refuses a second schedule for the same runbook and target, saying how to change it; Temporal holds it with overlapping runs skipped', async () => {
    await until(
      async () => (await rig.signed.listSchedules()).some((s) => s.id === `check-db-access-${healthy}`),
      'the schedule to be listed',
    );
    // As Temporal holds it (what the Temporal UI shows): overlapping runs are skipped, not queued or run side by side.
    const held = await rig.signed.temporal.schedule.getHandle(`check-db-access-${healthy}`).describe();
    expect(held.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    const again = rig.signed.createSchedule('db-access', healthy, '5m', { initiator: 'bob' });
    await expect(again).rejects.toThrow(ScheduleError);
    await expect(again).rejects.toThrow(
      `Schedule check-db-access-${healthy} already runs db-access on ${healthy} (one schedule per runbook and target). To change it, delete it and create it again: runbook schedule delete check-db-access-${healthy}.`,
    );
  });

  it('refuses a runbook that changes its target, an interval under a minute, and an unsigned schedule on a target that denies unsigned starts', async () => {
    await expect(rig.signed.createSchedule('migration-failed', healthy, '15m')).rejects.toThrow(
      /^Runbook "migration-failed" changes its target, so it cannot run on a schedule \(read-only checks can: .*db-access.*\)/,
    );
    await expect(rig.signed.createSchedule('approval-drill', healthy, '15m')).rejects.toThrow(
      /waits at a gate, and nobody answers a gate on a schedule/,
    );
    await expect(rig.signed.createSchedule('observability-check', healthy, '30s')).rejects.toThrow(
      'A check runs at most once a minute: "30s" is shorter; use 1m or more.',
    );
    await expect(rig.client.createSchedule('observability-check', healthy, '15m')).rejects.toThrow(
      `Target "${healthy}" accepts only runs started through the API (policy.unsignedStarts: deny), and this client cannot sign them`,
    );
    expect((await rig.signed.listSchedules()).map((s) => s.id)).not.toContain(`check-migration-failed-${healthy}`);
  });

  it('lists the schedule where the Temporal UI lists schedules (temporal schedule list)', async () => {
    await until(async () => {
      const { stdout } = await execa(inject('temporalCli'), [
        'schedule',
        'list',
        '--address',
        inject('temporalAddress'),
      ]);
      return stdout.includes(`check-db-access-${healthy}`);
    }, 'temporal schedule list to show the schedule');
  });

  it('pauses with a note, resumes, and deletes', async () => {
    const id = `check-db-access-${healthy}`;
    const paused = await rig.signed.pauseSchedule(id, 'alice', 'database maintenance until 18:00');
    expect(paused).toMatchObject({ paused: true, note: 'database maintenance until 18:00 (paused by alice)' });
    expect(await rig.signed.describeSchedule(id)).toMatchObject({
      paused: true,
      note: 'database maintenance until 18:00 (paused by alice)',
    });
    expect(await rig.signed.unpauseSchedule(id, 'alice')).toMatchObject({ paused: false, note: 'Unpaused by alice' });
    await rig.signed.deleteSchedule(id);
    await expect(rig.signed.describeSchedule(id)).rejects.toThrow(
      `Schedule "${id}" not found. List schedules with: runbook schedule ls`,
    );
    await until(
      async () => !(await rig.signed.listSchedules()).some((s) => s.id === id),
      'the deleted schedule to leave the list',
    );
    // An id Temporal refuses outright is no schedule either.
    await expect(rig.signed.deleteSchedule(`check-${'x'.repeat(2000)}`)).rejects.toThrow(
      /^Schedule "check-x+" not found/,
    );
  });

  it('notifies when a scheduled check finds a problem, and opens one escalation run however often it finds it', async () => {
    const s = await create(behindTarget);
    await rig.signed.triggerSchedule(s.id);
    const [first] = await completedRuns(behindTarget, 1);
    const result = (await finished(rig.client, first!.id)).result as RunbookResult<DbAccessFindings>;
    expect(result.healthy).toBe(false);
    await until(() => receiver.received.some((r) => r.body.event === 'check-failed'), 'the check-failed notification');
    const note = receiver.received.find((r) => r.body.event === 'check-failed')!.body;
    expect(note).toMatchObject({
      runbook: 'db-access',
      target: behindTarget,
      initiator: `schedule:${s.id}`,
      runId: first!.id,
    });
    expect(note.message).toContain(
      'database at 0001_tenants, code heads are 0005_invoice_estado_check: the database is behind',
    );

    // The escalation: the runbook the target names, started through its alert intake and admitted by the worker.
    let drill: RunSummary | undefined;
    await until(async () => {
      [drill] = (await rig.client.list({ runbook: 'approval-drill', target: behindTarget })).filter(
        (r) => r.status === 'waiting',
      );
      return drill !== undefined;
    }, 'the escalated run to wait at its gate');
    expect(drill!.initiator).toBe(`schedule:${s.id}`);

    // Found again while that run is open: journaled on it, no second run.
    await rig.signed.triggerSchedule(s.id);
    await completedRuns(behindTarget, 2);
    await until(
      async () => (await rig.client.status(drill!.id)).journal!.filter((e) => e.kind === 'alert').length === 2,
      'the second finding on the open run',
    );
    const drills = await rig.client.list({ runbook: 'approval-drill', target: behindTarget });
    expect(drills.map((r) => r.id)).toEqual([drill!.id]);
    const view = await rig.client.status(drill!.id);
    expect(view.journal!.find((e) => e.step === 'admit')!.channel).toEqual({ via: 'schedule', signed: false });
    await rig.signed.abort(drill!.id, 'alice', 'test over');
  });

  it("refuses a run that copies a schedule's signed start under another id", async () => {
    const desc = await rig.signed.temporal.schedule.getHandle(`check-db-access-${behindTarget}`).describe();
    const id = `copied-${suffix}`;
    await rig.signed.temporal.workflow.start('dbAccess', {
      workflowId: id,
      taskQueue: rig.taskQueue,
      args: desc.action.args,
    });
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toBe(
      `Step "admit" failed: This run carries the signature of schedule check-db-access-${behindTarget}, but it is not one of that schedule's runs (id ${id}, initiator schedule:check-db-access-${behindTarget}): start it with the API or \`runbook start\`.`,
    );
  });

  it('serves schedules through the API: operators create and delete, viewers cannot, refusals are 400/404/409', async () => {
    const call = async (as: keyof typeof tokens, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => {
      const r = await api.inject({ method, url, payload, headers: { authorization: `Bearer ${tokens[as]}` } });
      return { status: r.statusCode, body: r.body ? r.json<Record<string, unknown>>() : {} };
    };
    const body = { runbook: 'observability-check', target: healthy, every: '1h' };
    expect((await call('carol', 'POST', '/schedules', body)).status).toBe(403);
    const made = await call('alice', 'POST', '/schedules', body);
    expect(made).toMatchObject({
      status: 201,
      body: { id: `check-observability-check-${healthy}`, createdBy: 'alice', signed: true, every: '1h' },
    });
    created.push(`check-observability-check-${healthy}`);
    expect((await call('alice', 'POST', '/schedules', body)).status).toBe(409);
    const mutating = await call('alice', 'POST', '/schedules', { ...body, runbook: 'stuck-imports' });
    expect(mutating.status).toBe(400);
    expect(mutating.body.error).toMatch(/^Runbook "stuck-imports" changes its target/);
    expect(await call('alice', 'POST', '/schedules', { ...body, every: 'often' })).toMatchObject({
      status: 400,
      body: { error: 'Interval "often" is not a duration such as 30s, 15m, 2h, 7d.' },
    });
    expect(
      await call('alice', 'POST', `/schedules/check-observability-check-${healthy}/pause`, { note: 'quiet hours' }),
    ).toMatchObject({ status: 200, body: { paused: true, note: 'quiet hours (paused by alice)' } });
    expect((await call('alice', 'DELETE', `/schedules/check-observability-check-${healthy}`)).status).toBe(204);
    expect(await call('alice', 'POST', '/schedules', { ...body, every: '9999999d' })).toMatchObject({
      status: 400,
      body: { error: 'A check runs at least once a year: "9999999d" is longer; use 366d or less.' },
    });
    expect(await call('alice', 'POST', `/schedules/check-observability-check-${healthy}/trigger`)).toMatchObject({
      status: 404,
      body: {
        error: `Schedule "check-observability-check-${healthy}" not found. List schedules with: runbook schedule ls`,
      },
    });
  });

  it('is driven from the runbook command: create, ls, trigger, and an unsigned schedule refused where the target denies it', async () => {
    const id = `check-db-access-${cliTarget}`;
    const made = await runbookCli(
      ['schedule', 'create', 'db-access', '--target', cliTarget, '--every', '15m', '--as', 'dave'],
      env,
    );
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(`Scheduled ${id}`);
    expect(made.stdout).toContain('runs unsigned (the target must allow unsigned starts)');
    created.push(id);
    await until(async () => (await rig.client.listSchedules()).some((s) => s.id === id), 'the schedule to be listed');
    const listed = await runbookCli(['schedule', 'ls'], env);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+db-access\\s+${cliTarget}\\s+15m\\s+active`, 'm'));
    expect((await runbookCli(['schedule', 'trigger', id], env)).code).toBe(0);
    const [run] = await completedRuns(cliTarget, 1);
    expect(run!.initiator).toBe(`schedule:${id}`);
    const refused = await runbookCli(['schedule', 'create', 'db-access', '--target', healthy, '--every', '15m'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `runbook: Target "${healthy}" accepts only runs started through the API (policy.unsignedStarts: deny), and this client cannot sign them: create the schedule through the API (RUNBOOK_API set, or POST /schedules).`,
    );
  });
});
