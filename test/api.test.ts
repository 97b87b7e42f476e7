import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../src/api/server.js';
import { until } from './support/wait.js';
import { finished, pgTarget, startRig, writeTargets, type TestRig } from './support/harness.js';

describe('HTTP API', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  beforeAll(async () => {
    rig = await startRig(writeTargets({ 'api-db': pgTarget('test') }));
    api = await buildApi({ client: rig.client });
  });
  afterAll(async () => {
    await api?.close();
    await rig?.stop();
  });

  it('is healthy when Temporal answers', async () => {
    const r = await api.inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ok: true });
  });

  it('lists db-access with its input schema', async () => {
    const r = await api.inject({ method: 'GET', url: '/runbooks' });
    const dbAccess = r.json<{ runbooks: Array<{ name: string; mutates: boolean; inputSchema: { required: string[]; properties: Record<string, unknown> } }> }>().runbooks.find((x) => x.name === 'db-access');
    expect(dbAccess?.mutates).toBe(false);
    expect(dbAccess?.inputSchema.required).toContain('target');
    expect(Object.keys(dbAccess!.inputSchema.properties)).toContain('longTransactionSeconds');
  });

  it('starts a run that completes, and shows it by id and in the list', async () => {
    const started = await api.inject({ method: 'POST', url: '/runbooks/db-access/runs', payload: { target: 'api-db' } });
    expect(started.statusCode).toBe(201);
    const { id, uiUrl } = started.json<{ id: string; uiUrl: string }>();
    expect(uiUrl).toBe(`http://localhost:8233/namespaces/default/workflows/${id}`);
    await finished(rig.client, id);
    const run = (await api.inject({ method: 'GET', url: `/runs/${id}` })).json<{ status: string; target: string }>();
    expect(run).toMatchObject({ status: 'completed', target: 'api-db' });
    // Visibility (the list) is eventually consistent with the run itself.
    const listed = async () => (await api.inject({ method: 'GET', url: '/runs?target=api-db&status=completed' })).json<{ runs: Array<{ id: string }> }>().runs.some((x) => x.id === id);
    await until(listed, 'the completed run to be listed');
  });

  it('answers 400 with the reason for an unknown target or runbook, 404 for an unknown run', async () => {
    const badTarget = await api.inject({ method: 'POST', url: '/runbooks/db-access/runs', payload: { target: 'nope' } });
    expect(badTarget.statusCode).toBe(400);
    expect(badTarget.json<{ error: string }>().error).toMatch(/^Target "nope" is not in .* \(known: api-db\)\.$/);
    const badRunbook = await api.inject({ method: 'POST', url: '/runbooks/drop-everything/runs', payload: { target: 'api-db' } });
    expect(badRunbook.statusCode).toBe(400);
    expect(badRunbook.json<{ error: string }>().error).toContain('Unknown runbook "drop-everything"');
    const missing = await api.inject({ method: 'GET', url: '/runs/db-access-api-db-nothing' });
    expect(missing.statusCode).toBe(404);
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/runbooks', '/runbooks/{name}/runs', '/runs', '/runs/{id}']));
  });
});
