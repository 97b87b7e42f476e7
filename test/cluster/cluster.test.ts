import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterDatabases, startCluster, type Cluster } from '../../src/cluster/cluster.js';
import { loadConfig } from '../../src/config.js';
import { alembic, createDatabase, dropDatabase, pgTarget, tmpDir } from '../support/harness.js';
import { freePort } from '../support/ports.js';
import { registerSecrets, testLogDir } from '../support/secrets.js';
import { until } from '../support/wait.js';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/**
 * What only the production shape shows: our compiled worker and API processes (two of each, as
 * docker-compose.yml runs them) on a Temporal server with PostgreSQL persistence and mTLS, and
 * what happens when one of them, or Temporal itself, dies.
 */

type Who = 'alice' | 'bob';
interface RunView {
  id: string;
  status: string;
  pendingGates: Array<{ gate: string; planDigest: string }>;
  journal?: Array<{ step: string; kind: string; outcome: string; actor: string }>;
}

describe('the production shape (npm run cluster)', () => {
  let cluster: Cluster;
  let tokens: Record<Who, string>;
  let database: string;
  let prefix: string;

  const call = async (api: number, who: Who, method: string, url: string, body?: unknown) => {
    const r = await fetch(`${cluster.apiUrls[api]}${url}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
  };
  const run = async (api: number, id: string) =>
    (await call(api, 'alice', 'GET', `/runs/${id}`)).body as unknown as RunView;
  const startRun = async (api: number, runbook: string, input: Record<string, unknown> = {}) => {
    const r = await call(api, 'alice', 'POST', `/runbooks/${runbook}/runs`, { target: 'lane-db', input });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };
  /** Every run's status in one call (the API allows 600 calls a minute per person: polling run by run would exceed it). */
  const statuses = async (api: number) => {
    const r = await call(api, 'alice', 'GET', '/runs?limit=500');
    return new Map(((r.body?.runs ?? []) as Array<{ id: string; status: string }>).map((x) => [x.id, x.status]));
  };
  const allIn = (api: number, ids: string[], wanted: string[], what: string, timeoutMs = 170_000) =>
    until(
      async () => {
        const now = await statuses(api);
        return ids.every((id) => wanted.includes(now.get(id) ?? 'unknown'));
      },
      what,
      timeoutMs,
      1000,
    );
  const settled = async (ids: string[], api = 1) => {
    await allIn(api, ids, ['completed', 'failed', 'aborted', 'timed-out'], `${ids.length} runs to finish`);
    return Promise.all(ids.map((id) => run(api, id)));
  };
  const atGates = (api: number, ids: string[]) =>
    allIn(api, ids, ['waiting'], `${ids.length} runs to wait at their gate`, 90_000);
  const approve = async (api: number, id: string) => {
    const view = await run(api, id);
    return call(api, 'bob', 'POST', `/runs/${id}/gates/proceed`, {
      decision: 'approve',
      planDigest: view.pendingGates[0]!.planDigest,
    });
  };

  let clusterDir = '';
  beforeAll(async () => {
    database = await createDatabase('rblane');
    prefix = `rblane_full_${Date.now().toString(36)}`;
    await alembic(database, ['upgrade', 'head']);
    const dir = tmpDir('runbooks-cluster-');
    clusterDir = dir;
    const targetsFile = path.join(dir, 'targets.yaml');
    // Production policy (signed starts and decisions only), and alembic on a host queue: a host worker serves it.
    writeFileSync(
      targetsFile,
      stringify({
        targets: {
          'lane-db': { ...pgTarget(database), taskQueue: 'lane-host', backups: { dir: path.join(dir, 'dumps') } },
        },
      }),
    );
    const config = loadConfig({
      RUNBOOK_TARGETS: targetsFile,
      RUNBOOK_DATA_DIR: dir,
      RUNBOOK_API_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    });
    cluster = await startCluster({ config, prefix, log: () => undefined });
    tokens = JSON.parse(readFileSync(cluster.devTokensFile!, 'utf8')) as Record<Who, string>;
    registerSecrets('API token', ...Object.values(tokens));
  });
  afterAll(async () => {
    await cluster?.stop();
    // The workers' and APIs' own logs, for the lane's secret scan (test/support/secrets.ts).
    const logs = testLogDir();
    if (cluster && logs)
      cpSync(path.join(clusterDir, 'cluster', 'logs'), path.join(logs, `cluster-${prefix}`), { recursive: true });
    await Promise.all([database, ...clusterDatabases(prefix)].filter(Boolean).map(dropDatabase));
  });

  it('runs a runbook started on one API and approved on the other, each step on a worker process and alembic on the host worker', async () => {
    const check = await startRun(0, 'db-access');
    const drill = await startRun(1, 'approval-drill');
    await atGates(0, [drill]);
    expect((await approve(0, drill)).status).toBe(200);
    const [a, b] = await settled([check, drill]);
    expect(a!.status).toBe('completed');
    expect(b!.status).toBe('completed');
    expect(JSON.stringify((await call(1, 'alice', 'GET', `/runs/${check}`)).body)).toContain(
      '0005_invoice_estado_check',
    );
  });

  it('keeps a console session across both API processes, a restart of both, and ends it on both at sign-out', async () => {
    const opened = await fetch(`${cluster.apiUrls[0]}/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bob}` },
    });
    expect(opened.status).toBe(200);
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    // The Temporal UI calls the codec with the cookie, from its own origin (here, without a UI, the API's).
    const decode = async (api: number) =>
      (
        await fetch(`${cluster.apiUrls[api]}/codec/decode`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-namespace': 'default',
            origin: cluster.apiUrls[0]!,
            cookie,
          },
          body: JSON.stringify({ payloads: [] }),
        })
      ).status;
    expect(await decode(1)).toBe(200);
    await cluster.restartApi(0);
    await cluster.restartApi(1);
    expect([await decode(0), await decode(1)]).toEqual([200, 200]);
    expect((await fetch(`${cluster.apiUrls[1]}/session`, { method: 'DELETE', headers: { cookie } })).status).toBe(204);
    expect([await decode(0), await decode(1)]).toEqual([401, 401]);
  });

  it('loses no run when a worker is killed with kill -9 while runs are in steps and at gates', async () => {
    const checks = await Promise.all(Array.from({ length: 12 }, (_, i) => startRun(i % 2, 'db-access')));
    const drills = await Promise.all(Array.from({ length: 6 }, (_, i) => startRun(i % 2, 'approval-drill')));
    await cluster.workers[0]!.kill();
    await atGates(1, drills);
    for (const id of drills) expect((await approve(1, id)).status).toBe(200);
    const runs = await settled([...checks, ...drills]);
    expect(runs.map((r) => r.status)).toEqual(runs.map(() => 'completed'));
    await cluster.restartWorker(0);
  });

  it('loses no run when the Temporal server is killed and started again while runs wait at gates', async () => {
    const drills = await Promise.all(Array.from({ length: 4 }, (_, i) => startRun(i % 2, 'approval-drill')));
    await atGates(0, drills);
    await cluster.temporal.kill();
    await cluster.temporal.start();
    // The workers and the APIs reconnect by themselves.
    await until(
      async () => (await fetch(`${cluster.apiUrls[0]}/healthz`)).status === 200,
      'the API to reach Temporal again',
      60_000,
      500,
    );
    for (const id of drills) expect((await approve(0, id)).status).toBe(200);
    const runs = await settled(drills, 0);
    expect(runs.map((r) => r.status)).toEqual(runs.map(() => 'completed'));
  });

  it('counts a decision once when the API that took it is killed mid-request; the other API answers', async () => {
    const id = await startRun(0, 'approval-drill');
    await atGates(0, [id]);
    const view = await run(0, id);
    const inFlight = call(0, 'bob', 'POST', `/runs/${id}/gates/proceed`, {
      decision: 'approve',
      planDigest: view.pendingGates[0]!.planDigest,
    }).catch(() => null);
    await cluster.apis[0]!.kill();
    await inFlight;
    // The operator does not know whether it counted, and tries again on the other API.
    const again = await approve(1, id).catch(() => null);
    const [done] = await settled([id], 1);
    expect(done!.status).toBe('completed');
    const decisions = done!.journal!.filter(
      (e) => e.step === 'proceed' && e.kind === 'decision' && e.outcome === 'approved',
    );
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.actor).toBe('bob');
    if (again && again.status !== 200) expect(again.status).toBe(409);
    await cluster.restartApi(0);
    expect((await run(0, id)).status).toBe('completed');
  });
});
