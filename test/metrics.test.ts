import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RunbookClient } from '../src/client.js';
import { dashboardMetrics } from '../src/metrics/dashboard.js';
import { newRegistry, serveMetrics, type MetricsEndpoint } from '../src/metrics/server.js';
import { publicKeyOf } from '../src/contract/signing.js';
import { TargetRegistry } from '../src/targets.js';
import { apiWithDevTokens } from './support/api.js';
import { registerSecrets } from './support/secrets.js';
import { finished, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { serverOptions } from './support/temporal.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';
import { workerProcesses } from './support/worker-process.js';

/** One sample of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) throw new Error(`Not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
      );
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

const sum = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);

const scrape = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
};

describe('metrics (RUNBOOK_METRICS_PORT)', () => {
  const dataDir = tmpDir('runbooks-metrics-');
  const target = 'metered';
  // The API signs starts and decisions; the target accepts nothing else, as in production.
  const targetsFile = writeTargets({ [target]: { policy: { unsignedDecisions: 'deny', unsignedStarts: 'deny' } } });
  const signingKey = randomBytes(32).toString('hex');
  registerSecrets('decision signing key', signingKey);
  const taskQueue = uniqueName('tq-metrics');
  const procs = workerProcesses(targetsFile, dataDir);
  let workerMetrics: string;
  let apiMetrics: MetricsEndpoint;
  let api: FastifyInstance;
  let tokens: Record<'alice' | 'bob', string>;
  let connection: Connection;
  let client: RunbookClient;
  let runId: string;

  beforeAll(async () => {
    const port = await freePort();
    await procs.start(taskQueue, undefined, {
      RUNBOOK_METRICS_PORT: String(port),
      RUNBOOK_DECISION_PUBLIC_KEY: publicKeyOf(signingKey),
      LOG_LEVEL: 'info',
    });
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    connection = await Connection.connect(serverOptions(inject('temporalAddress')));
    client = new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://localhost:8233',
      targets: () => TargetRegistry.load(targetsFile),
      signingKey,
    });
    const registry = newRegistry('api');
    apiMetrics = await serveMetrics({ host: '127.0.0.1', port: 0, registry });
    ({ api, tokens } = await apiWithDevTokens(client, { metrics: registry }));
  });
  afterAll(async () => {
    await api?.close();
    await apiMetrics?.close();
    await connection?.close();
    await procs.killAll();
  });

  it("counts a run started through the API, its gate wait, the decision and its end, with the SDK's worker metrics on the same endpoint; promtool accepts both", async () => {
    const as = (who: 'alice' | 'bob') => ({ authorization: `Bearer ${tokens[who]}` });
    // Holding the target's lock while it waits, as changing runbooks do: the lock is counted too.
    const started = await api.inject({
      method: 'POST',
      url: '/runbooks/approval-drill/runs',
      headers: as('alice'),
      payload: { target, input: { takeLock: true } },
    });
    expect(started.statusCode).toBe(201);
    const { id } = started.json<{ id: string }>();
    runId = id;
    await until(
      async () =>
        (await api.inject({ method: 'GET', url: `/runs/${id}`, headers: as('bob') })).json<{
          pendingGates: unknown[];
        }>().pendingGates.length > 0,
      'the gate to open',
    );
    const decided = await api.inject({
      method: 'POST',
      url: `/runs/${id}/gates/proceed`,
      headers: as('bob'),
      payload: { decision: 'approve' },
    });
    expect(decided.statusCode).toBe(200);
    const view = await finished(client, id);
    expect(view.status).toBe('completed');

    const ours = { runbook: 'approval-drill', target };
    let worker: Sample[] = [];
    await until(async () => {
      worker = parseMetrics(await scrape(workerMetrics));
      return sum(worker, 'runbook_runs_ended_total', { ...ours, outcome: 'completed' }) === 1;
    }, "the run's end to be counted");
    expect(sum(worker, 'runbook_runs_started_total', { ...ours, channel: 'api', signed: 'true' })).toBe(1);
    expect(
      sum(worker, 'runbook_decisions_total', {
        runbook: 'approval-drill',
        gate: 'proceed',
        decision: 'approve',
        via: 'update',
        signed: 'true',
      }),
    ).toBe(1);
    expect(sum(worker, 'runbook_gate_wait_seconds_count', { ...ours, gate: 'proceed', outcome: 'approved' })).toBe(1);
    expect(
      sum(worker, 'runbook_activity_seconds_count', {
        activityType: 'recordDrillDecision',
        workflowType: 'approvalDrill',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(sum(worker, 'runbook_lock_acquired_total', { target })).toBe(1);
    expect(sum(worker, 'runbook_lock_released_total', { target })).toBe(1);
    // The SDK's own worker metrics, relayed on the same endpoint.
    expect(
      worker.some(
        (s) =>
          (s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue) || s.labels.taskQueue === taskQueue,
      ),
    ).toBe(true);

    // The same runbook started straight through Temporal (as the temporal CLI or the UI would), unsigned on a
    // target that denies it: refused by the worker, counted as refused, never as started.
    const raw = await new Client({ connection }).workflow.start('approvalDrill', {
      taskQueue,
      workflowId: uniqueName('raw-start'),
      args: [{ target, initiator: 'mallory' }],
    });
    expect(
      await raw.result().then(
        () => 'completed',
        (e: Error) => (e.cause as Error | undefined)?.message ?? e.message,
      ),
    ).toContain('accepts only runs started through the API (policy.unsignedStarts: deny)');
    await until(async () => {
      worker = parseMetrics(await scrape(workerMetrics));
      return sum(worker, 'runbook_runs_ended_total', { ...ours, outcome: 'refused' }) === 1;
    }, 'the refused start to be counted');
    expect(sum(worker, 'runbook_runs_started_total', ours)).toBe(1);

    const apiSamples = parseMetrics(await scrape(apiMetrics.url));
    expect(sum(apiSamples, 'runbook_api_runs_started_total', ours)).toBe(1);
    expect(
      sum(apiSamples, 'runbook_api_requests_total', { route: '/runbooks/:name/runs', method: 'POST', status: '201' }),
    ).toBe(1);
    expect(
      sum(apiSamples, 'runbook_api_requests_total', { route: '/runs/:id/gates/:gate', method: 'POST', status: '200' }),
    ).toBe(1);

    for (const [name, url] of [
      ['worker', workerMetrics],
      ['api', apiMetrics.url],
    ] as const) {
      const file = path.join(dataDir, `${name}.prom`);
      writeFileSync(file, await scrape(url));
      const lint = await execa('promtool', ['check', 'metrics'], { inputFile: file, reject: false, all: true });
      // Two complaints are upstream's, not ours: the Temporal SDK's meter labels taskQueue, workflowType and
      // activityType in camelCase, and prom-client's default nodejs_active_* gauges end in _total.
      const upstream = (l: string) =>
        /^runbook_\w+ label names should be written in 'snake_case' not 'camelCase'$/.test(l) ||
        /^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/.test(l);
      expect(
        lint.all.split('\n').filter((l) => l && !upstream(l)),
        `promtool check metrics on the ${name}'s endpoint`,
      ).toEqual([]);
    }
    // The dashboard (docs/grafana-dashboard.json) reads SDK metrics the worker really exports.
    expect(
      dashboardMetrics()
        .filter((n) => n.startsWith('temporal_'))
        .filter((n) => !worker.some((s) => s.name === n)),
    ).toEqual([]);
    // …and the labels we choose are snake_case, so the camelCase ones above are only the SDK's.
    const sdkLabels = new Set(['taskQueue', 'workflowType', 'activityType', 'namespace', 'service_name']);
    const ourLabels = new Set(
      [...worker, ...apiSamples]
        .filter((s) => s.name.startsWith('runbook_'))
        .flatMap((s) => Object.keys(s.labels))
        .filter((l) => !sdkLabels.has(l)),
    );
    expect([...ourLabels].filter((l) => !/^[a-z]+(_[a-z]+)*$/.test(l))).toEqual([]);
  });

  it('logs the run as JSON lines: each step started and ended, the gate opened and approved, with run id, runbook, target and step', async () => {
    expect(runId).toBeDefined();
    const lines = readFileSync(path.join(dataDir, `worker-${taskQueue}-${process.pid}.log`), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.workflowId === runId);
    const said = entries.map((e) => e.msg);
    expect(said).toEqual(
      expect.arrayContaining([
        'Step admit started',
        'Step admit ok',
        'Step record-decision started',
        'Step record-decision ok',
        'Gate proceed approved by bob',
      ]),
    );
    expect(said.some((m) => typeof m === 'string' && /^Gate proceed open until \d{4}-/.test(m))).toBe(true);
    expect(entries.find((e) => e.msg === 'Step record-decision ok')).toMatchObject({
      level: 30,
      runbook: 'approval-drill',
      target: 'metered',
      step: 'record-decision',
      outcome: 'ok',
      workflowType: 'approvalDrill',
      runId: expect.any(String) as unknown,
    });
  });

  it("refuses a port already taken with the variable's name", async () => {
    const taken = await serveMetrics({ host: '127.0.0.1', port: 0, registry: newRegistry('probe') });
    const port = Number(new URL(taken.url).port);
    const err = await serveMetrics({ host: '127.0.0.1', port, registry: newRegistry('probe') }).then(
      () => undefined,
      (e: Error) => e,
    );
    await taken.close();
    expect(err?.message).toBe(
      `RUNBOOK_METRICS_PORT ${port} is already in use on 127.0.0.1: choose another port, or stop what holds it.`,
    );
  });
});
