import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiWithDevTokens } from './support/api.js';
import { finished, pgTarget, startRig, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

describe('HTTP API', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  let tokens: Record<'alice' | 'bob' | 'carol', string>;

  beforeAll(async () => {
    rig = await startRig(writeTargets({ 'api-db': pgTarget('test'), 'api-drill': {} }), {
      signingKey: randomBytes(32).toString('hex'),
    });
    ({ api, tokens } = await apiWithDevTokens(rig.signed));
  });
  afterAll(async () => {
    await api?.close();
    await rig?.stop();
  });

  type Method = 'GET' | 'POST';
  const call = async (as: keyof typeof tokens | undefined, method: Method, url: string, payload?: object) => {
    const r = await api.inject({ method, url, payload, headers: as ? { authorization: `Bearer ${tokens[as]}` } : {} });
    return {
      status: r.statusCode,
      body: String(r.headers['content-type'] ?? '').includes('json') ? r.json<Record<string, unknown>>() : r.body,
    };
  };
  const drill = async () => {
    const { body } = await call('alice', 'POST', '/runbooks/approval-drill/runs', { target: 'api-drill' });
    const id = (body as { id: string }).id;
    await until(async () => (await rig.client.status(id)).pendingGates.length > 0, 'the gate to open');
    return id;
  };

  it('is healthy when Temporal answers, without a token', async () => {
    expect(await call(undefined, 'GET', '/healthz')).toEqual({ status: 200, body: { ok: true } });
  });

  it('answers 401 without a token or with a wrong one', async () => {
    expect(await call(undefined, 'GET', '/runs')).toEqual({
      status: 401,
      body: { error: 'Missing bearer token: send "Authorization: Bearer <token>".' },
    });
    const r = await api.inject({ method: 'GET', url: '/runs', headers: { authorization: 'Bearer not-a-token' } });
    expect(r.statusCode).toBe(401);
    expect(r.json<{ error: string }>().error).toContain('Unknown bearer token');
  });

  it('answers 403 when the person lacks the role, and starts nothing', async () => {
    const r = await call('carol', 'POST', '/runbooks/db-access/runs', { target: 'api-db' });
    expect(r).toEqual({
      status: 403,
      body: { error: 'carol lacks the "operator" role needed to start runbooks (has: viewer).' },
    });
    const bob = await call('bob', 'POST', '/runbooks/db-access/runs', { target: 'api-db' });
    expect(bob.status).toBe(403);
  });

  it('lists runbooks with their input schemas', async () => {
    const { body } = await call('carol', 'GET', '/runbooks');
    const runbooks = (
      body as {
        runbooks: Array<{
          name: string;
          gates: string[];
          inputSchema: { required: string[]; properties: Record<string, unknown> };
        }>;
      }
    ).runbooks;
    expect(runbooks.map((r) => r.name)).toEqual([
      'approval-drill',
      'connection-refused',
      'db-access',
      'einvoicing-failed',
      'janitor',
      'login-errors',
      'migration-failed',
      'missing-container-file',
      'observability-check',
      'payments-failed',
      'preflight',
      'pwa-stale-cache',
      'redis-health',
      'release-migration',
      'schema-drift',
      'stuck-imports',
    ]);
    expect(runbooks[0]!.gates).toEqual(['proceed']);
    const dbAccess = runbooks.find((r) => r.name === 'db-access')!;
    expect(dbAccess.inputSchema.required).toContain('target');
    expect(Object.keys(dbAccess.inputSchema.properties)).toContain('longTransactionSeconds');
  });

  it('starts a run as the authenticated person, then shows it by id and in the list', async () => {
    const started = await call('alice', 'POST', '/runbooks/db-access/runs', { target: 'api-db' });
    expect(started.status).toBe(201);
    const { id, uiUrl } = started.body as { id: string; uiUrl: string };
    expect(uiUrl).toBe(`http://localhost:8233/namespaces/default/workflows/${id}`);
    await finished(rig.client, id);
    expect((await call('carol', 'GET', `/runs/${id}`)).body).toMatchObject({
      status: 'completed',
      target: 'api-db',
      initiator: 'alice',
    });
    // Visibility (the list) is eventually consistent with the run itself.
    await until(
      async () =>
        (
          (await call('carol', 'GET', '/runs?target=api-db&status=completed')).body as { runs: Array<{ id: string }> }
        ).runs.some((x) => x.id === id),
      'the completed run to be listed',
    );
  });

  it('answers 400 with the reason for an unknown target or runbook, 404 for an unknown run', async () => {
    const badTarget = await call('alice', 'POST', '/runbooks/db-access/runs', { target: 'nope' });
    expect(badTarget.status).toBe(400);
    expect((badTarget.body as { error: string }).error).toMatch(
      /^Target "nope" is not in .* \(known: api-db, api-drill\)\.$/,
    );
    const badRunbook = await call('alice', 'POST', '/runbooks/drop-everything/runs', { target: 'api-db' });
    expect(badRunbook).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('Unknown runbook "drop-everything"') as string },
    });
    expect((await call('carol', 'GET', '/runs/db-access-api-db-nothing')).status).toBe(404);
    // An id Temporal refuses outright: "/runs/." arrives as an empty id (found by the fuzz test: it was a 500).
    const refusedId = await call('carol', 'GET', '/runs/.');
    expect(refusedId).toEqual({
      status: 404,
      body: {
        error:
          'Run "" not found: Temporal refuses that id (WorkflowId is not set on request.). List runs with: runbook ls',
      },
    });
  });

  it("takes an approval (signed by the API) and refuses the initiator's own with 403 and the reason", async () => {
    const id = await drill();
    const own = await call('alice', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve' });
    expect(own).toEqual({
      status: 403,
      body: { error: 'alice started this run and may not approve it (four-eyes): another approver must.' },
    });
    const viewer = await call('carol', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve' });
    expect(viewer.status).toBe(403);
    const ok = await call('bob', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve', comment: 'go' });
    expect(ok).toMatchObject({ status: 200, body: { gate: { gate: 'proceed', status: 'approved' } } });
    const run = await finished(rig.client, id);
    expect(run.result).toMatchObject({ findings: { approvedBy: ['bob'], channels: ['update (signed)'] } });
    const late = await call('bob', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve' });
    expect(late).toEqual({
      status: 409,
      body: { error: `Run "${id}" has already ended (completed); decisions are no longer accepted.` },
    });
  });

  it('answers 404 for an unknown gate and 400 for a malformed decision', async () => {
    const id = await drill();
    expect(await call('bob', 'POST', `/runs/${id}/gates/nope`, { decision: 'approve' })).toEqual({
      status: 404,
      body: { error: 'There is no gate "nope" in this run (open: proceed).' },
    });
    expect((await call('bob', 'POST', `/runs/${id}/gates/proceed`, { decision: 'maybe' })).status).toBe(400);
    expect((await call('bob', 'POST', `/runs/${id}/abort`, { reason: 'cleanup' })).status).toBe(403);
    expect((await call('alice', 'POST', `/runs/${id}/abort`, { reason: 'cleanup' })).status).toBe(202);
    expect((await finished(rig.client, id)).status).toBe('aborted');
  });

  it('renders the incident timeline as Markdown with every decision and the recorded sender', async () => {
    const id = await drill();
    await call('alice', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve' });
    await call('bob', 'POST', `/runs/${id}/gates/proceed`, { decision: 'approve', comment: 'drill looks right' });
    await finished(rig.client, id);
    const md = (await call('carol', 'GET', `/runs/${id}/timeline?format=md`)).body as string;
    expect(md).toContain('# Incident timeline: approval-drill on api-drill');
    expect(md).toContain('- Status: **completed** (phase completed)');
    expect(md).toContain('- Started by alice at ');
    expect(md).toMatch(/\| \d\d:\d\d:\d\d \| \d\d:\d\d:\d\d \| record-decision \| step \| worker \| ok \|/);
    expect(md).toContain('alice was refused at proceed: alice started this run and may not approve it (four-eyes)');
    expect(md).toContain('bob approved gate proceed: "drill looks right" (update, signed by the API)');
    expect(md).toContain('update `decide` from identity');
    expect(md).toContain('## Root cause');
    const json = (await call('carol', 'GET', `/runs/${id}/timeline?format=json`)).body as {
      entries: Array<{ kind: string }>;
      messages: unknown[];
    };
    expect(json.entries.filter((e) => e.kind === 'decision')).toHaveLength(1);
    expect(json.messages).toHaveLength(2);
  });

  it('serves its OpenAPI document without a token', async () => {
    const doc = (await call(undefined, 'GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/healthz',
        '/runbooks',
        '/runbooks/{name}/runs',
        '/runs',
        '/runs/{id}',
        '/runs/{id}/gates/{gate}',
        '/runs/{id}/abort',
        '/runs/{id}/timeline',
      ]),
    );
  });
});
