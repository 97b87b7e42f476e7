import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureDevTokens } from '../src/api/auth.js';
import { replay } from '../src/audit/replay.js';
import { RunbookClient, type RunView } from '../src/client.js';
import { findRunbook } from '../src/runbooks/catalogue.js';
import { TargetRegistry } from '../src/targets.js';
import { finished, pgTarget, repoRoot, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';
import { runbookCli } from './support/cli.js';
import { serverOptions, tlsEnv } from './support/temporal.js';
import { until } from './support/wait.js';
import { workerProcesses } from './support/worker-process.js';

/** A span as OTLP/HTTP JSON carries it, with its process's service.name. */
interface Span {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{ spans?: Array<Omit<Span, 'service' | 'attributes'> & { attributes?: OtlpAttribute[] }> }>;
  }>;
}

const attributes = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]));

/** A stand-in OpenTelemetry collector: takes OTLP/HTTP JSON on /v1/traces and keeps the raw bodies and the spans. */
async function otlpReceiver(): Promise<{ url: string; bodies: string[]; spans: Span[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const spans: Span[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => void (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        bodies.push(body);
        for (const rs of (JSON.parse(body) as OtlpExport).resourceSpans ?? []) {
          const service = String(attributes(rs.resource?.attributes)['service.name']);
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? []) spans.push({ ...s, service, attributes: attributes(s.attributes) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('traces (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const dataDir = tmpDir('runbooks-tracing-');
  const target = 'traced-db';
  const password = `pw-${randomBytes(12).toString('hex')}`;
  registerSecrets('TRACE_DB_PASSWORD', password);
  // The machine's PostgreSQL trusts local connections: the password is handed over, never checked.
  // Decisions unsigned (no RUNBOOK_DECISION_KEY on this API): the target allows them.
  const targetsFile = writeTargets({
    [target]: pgTarget('test', {
      postgres: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', passwordEnv: 'TRACE_DB_PASSWORD' },
      policy: { unsignedDecisions: 'allow' },
    }),
  });
  const taskQueue = uniqueName('tq-tracing');
  const workers = workerProcesses(targetsFile, dataDir);
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let worker: ResultPromise;
  let apiProc: ResultPromise;
  let api: string;
  let tokens: Record<'alice' | 'bob', string>;
  let drillId: string;
  let cliId: string;
  let connection: Connection;
  let untracedId: string;

  beforeAll(async () => {
    receiver = await otlpReceiver();
    // A minute's batching: what arrives below was sent when the processes stopped, not before.
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      TRACE_DB_PASSWORD: password,
    };
    const dev = ensureDevTokens(tmpDir());
    tokens = JSON.parse(readFileSync(dev.plainFile, 'utf8')) as Record<'alice' | 'bob', string>;
    registerSecrets('API token', tokens.alice, tokens.bob);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    apiProc = execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/api/main.ts')], {
      cwd: repoRoot,
      reject: false,
      all: true,
      env: {
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        ...tlsEnv(),
        RUNBOOK_TASK_QUEUE: taskQueue,
        RUNBOOK_TARGETS: targetsFile,
        RUNBOOK_API_TOKENS: dev.tokensFile,
        RUNBOOK_API_PORT: String(port),
        LOG_LEVEL: 'warn',
        ...otel,
      },
    });
    let apiOut = '';
    apiProc.all?.on('data', (d: Buffer) => void (apiOut += d.toString()));
    [{ proc: worker }] = await Promise.all([
      workers.start(taskQueue, undefined, otel),
      until(() => apiOut.includes('API on') || apiProc.exitCode !== null, 'the API to start', 60_000),
    ]);
    expect(apiOut).toContain(`traces to ${receiver.url}/v1/traces`);
    connection = await Connection.connect(serverOptions());
  });
  afterAll(async () => {
    await connection?.close();
    apiProc?.kill('SIGKILL');
    await workers.killAll();
    await receiver?.close();
  });

  it('leaves a run started without a trace (the Temporal UI, a schedule, a client with tracing off) as it was: no trace header in its history', async () => {
    // This test process has no tracing: its client starts runs as the Temporal UI would, on the tracing worker.
    const client = new RunbookClient(new Client({ connection }), {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://localhost:8233',
      targets: () => TargetRegistry.load(targetsFile, { TRACE_DB_PASSWORD: password }),
    });
    ({ id: untracedId } = await client.start('db-access', { target, initiator: 'alice' }));
    expect((await finished(client, untracedId)).status).toBe('completed');
    const history = JSON.stringify(await client.temporal.workflow.getHandle(untracedId).fetchHistory());
    expect(history).toContain('pgPing'); // its steps were scheduled: that is where a trace header would be
    expect(history).not.toContain('_tracer-data');
  });

  it('takes a traced run through its gate: the approval, sent through the API, reaches the run and it completes', async () => {
    const as = (who: 'alice' | 'bob') => ({
      authorization: `Bearer ${tokens[who]}`,
      'content-type': 'application/json',
    });
    const started = await fetch(`${api}/runbooks/approval-drill/runs`, {
      method: 'POST',
      headers: as('alice'),
      body: JSON.stringify({ target }),
    });
    expect(started.status).toBe(201);
    ({ id: drillId } = (await started.json()) as { id: string });
    const view = async () =>
      (await (await fetch(`${api}/runs/${encodeURIComponent(drillId)}`, { headers: as('bob') })).json()) as RunView;
    await until(async () => (await view()).pendingGates.length > 0, 'the gate to open');
    const decided = await fetch(`${api}/runs/${encodeURIComponent(drillId)}/gates/proceed`, {
      method: 'POST',
      headers: as('bob'),
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect(decided.status).toBe(200);
    await until(
      async () => (await view()).status !== 'waiting' && (await view()).status !== 'running',
      'the drill to end',
    );
    expect((await view()).status).toBe('completed');
  });

  it('traces a run the runbook CLI starts straight through Temporal, and the CLI sends its spans before it exits', async () => {
    const cli = await runbookCli(['start', 'db-access', '--target', target, '--json'], {
      RUNBOOK_TASK_QUEUE: taskQueue,
      RUNBOOK_TARGETS: targetsFile,
      TRACE_DB_PASSWORD: password,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    expect(cli.code, cli.stderr).toBe(0);
    cliId = String(cli.json().id);
    await new Client({ connection }).workflow.getHandle(cliId).result(); // its RunWorkflow span ends with it
    const start = receiver.spans.find(
      (s) => s.name === 'StartWorkflow:dbAccess' && s.attributes.temporalWorkflowId === cliId,
    );
    expect(start).toMatchObject({ service: 'runbook-cli' });
    expect(start!.parentSpanId ?? '').toBe(''); // no request above it: the CLI's start is the root
  });

  it('puts each API request in one trace with what it caused in the run: the start (the run, every step) and the approval (its handler); sent when the processes stop; no password or token in it', async () => {
    const headers = { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' };
    const started = await fetch(`${api}/runbooks/db-access/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ target }),
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    let run: RunView | undefined;
    await until(
      async () => {
        run = (await (await fetch(`${api}/runs/${encodeURIComponent(id)}`, { headers })).json()) as RunView;
        return !['running', 'waiting'].includes(run.status);
      },
      'the run to end',
      30_000,
    );
    expect(run!.status).toBe('completed');
    expect(receiver.spans.filter((s) => s.service !== 'runbook-cli')).toEqual([]); // the API's and the worker's: still batched
    // The traced run's history carries the trace header, and replays where tracing is off (this process).
    const history = await new Client({ connection }).workflow.getHandle(id).fetchHistory();
    expect(JSON.stringify(history)).toContain('_tracer-data');
    expect(await replay(history, id, { workflowBundle: { codePath: inject('workflowBundlePath') } })).toMatchObject({
      ok: true,
    });

    // Ctrl-C (SIGINT) or a container stop (SIGTERM): each process sends what it holds before exiting.
    apiProc.kill('SIGTERM');
    worker.kill('SIGTERM');
    await Promise.all([apiProc, worker]);
    const spans = receiver.spans;

    const workflowType = findRunbook('db-access').workflowType;
    const start = spans.find(
      (s) => s.name === `StartWorkflow:${workflowType}` && s.attributes.temporalWorkflowId === id,
    );
    expect(start).toMatchObject({ service: 'runbook-api' });
    const request = spans.find((s) => s.spanId === start!.parentSpanId);
    expect(request).toMatchObject({
      name: 'POST /runbooks/:name/runs',
      traceId: start!.traceId,
      service: 'runbook-api',
      kind: 2 /* server */,
      attributes: { 'http.route': '/runbooks/:name/runs', 'http.response.status_code': 201 },
    });
    expect(request!.parentSpanId ?? '').toBe(''); // the root of the trace
    const trace = spans.filter((s) => s.traceId === request!.traceId);
    const one = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, `one ${name} span in the request's trace`).toHaveLength(1);
      return found[0]!;
    };
    const execution = one(`RunWorkflow:${workflowType}`);
    expect(execution).toMatchObject({ service: 'runbook-worker', parentSpanId: start!.spanId });

    // Every step: scheduled by the run (StartActivity), executed under it on the worker (RunActivity).
    const scheduled = trace.filter((s) => s.name.startsWith('StartActivity:'));
    const executed = trace.filter((s) => s.name.startsWith('RunActivity:'));
    expect(scheduled.length).toBeGreaterThanOrEqual(3);
    expect(scheduled.every((s) => s.parentSpanId === execution.spanId)).toBe(true);
    expect(executed.map((s) => s.name.slice('RunActivity:'.length)).sort()).toEqual(
      scheduled.map((s) => s.name.slice('StartActivity:'.length)).sort(),
    );
    for (const s of executed) {
      expect(s).toMatchObject({ service: 'runbook-worker', attributes: { temporalWorkflowId: id } });
      expect(scheduled.map((p) => p.spanId)).toContain(s.parentSpanId);
    }

    // What names the request and the run, nothing else (no memo, no input, no result): the target's name is in the
    // run's id, its password nowhere the collector got, nor the caller's token.
    const known = [
      'http.request.method',
      'http.route',
      'http.response.status_code',
      'temporalWorkflowId',
      'run_id',
      'temporalActivityId',
      'workflowId',
      'runId',
      'workflowType',
      'taskQueue',
      'namespace',
      'attempt',
      'temporalUpdateId',
    ];
    expect([...new Set(spans.flatMap((s) => Object.keys(s.attributes)))].filter((k) => !known.includes(k))).toEqual([]);
    expect(execution.attributes).toMatchObject({ workflowId: id, workflowType });
    expect(JSON.stringify(spans)).not.toContain(untracedId); // the run started untraced, on the same worker, sent nothing
    // The CLI's run: the worker's part joined the CLI's trace.
    const cliStart = spans.find((s) => s.service === 'runbook-cli' && s.attributes.temporalWorkflowId === cliId)!;
    expect(
      spans.filter((s) => s.traceId === cliStart.traceId && s.name === `RunWorkflow:${workflowType}`),
    ).toMatchObject([{ service: 'runbook-worker', parentSpanId: cliStart.spanId }]);
    expect(receiver.bodies.join('\n')).not.toContain(password);
    for (const t of Object.values(tokens)) expect(receiver.bodies.join('\n')).not.toContain(t);

    // The drill's approval: its own request's trace, down to the run's handler of the decision.
    const approval = spans.find((s) => s.name === 'POST /runs/:id/gates/:gate');
    expect(approval).toMatchObject({ service: 'runbook-api', attributes: { 'http.response.status_code': 200 } });
    const update = spans.filter((s) => s.traceId === approval!.traceId && s.name === 'StartWorkflowUpdate:decide');
    expect(update).toHaveLength(1);
    expect(update[0]).toMatchObject({ parentSpanId: approval!.spanId, attributes: { temporalWorkflowId: drillId } });
    const handled = spans.filter((s) => s.traceId === approval!.traceId && s.name === 'HandleUpdate:decide');
    expect(handled).toMatchObject([{ service: 'runbook-worker', parentSpanId: update[0]!.spanId }]);
  });
});
