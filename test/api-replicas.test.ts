import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureDevTokens, TokenStore } from '../src/api/auth.js';
import { startApi } from '../src/api/main.js';
import { OidcSignIn } from '../src/api/oidc.js';
import { buildApi, type ApiOptions } from '../src/api/server.js';
import { PgStateStore } from '../src/api/state-postgres.js';
import { RunbookClient } from '../src/client.js';
import { AesGcmCodec } from '../src/codec.js';
import { loadConfig } from '../src/config.js';
import { TargetRegistry } from '../src/targets.js';
import { createDatabase, dropDatabase, PG, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { startOidcProvider } from './support/oidc.js';
import { serverOptions } from './support/temporal.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';

// Two API processes behind a load balancer, sharing their state in one PostgreSQL database (a
// throwaway one for this file): a console session opened on one opens the codec on the other,
// a sign-out on either holds on both, sessions outlive a restart of both, and an SSO sign-in
// begun on one replica finishes on the other, its one-time hand-off redeemed once.
const UI = 'http://127.0.0.1:8233';
const key = randomBytes(32);
const codec = new AesGcmCodec('k1', new Map([['k1', key]]));
const dev = ensureDevTokens(tmpDir());
const tokens = JSON.parse(readFileSync(dev.plainFile, 'utf8')) as Record<'alice' | 'bob' | 'carol', string>;
const urlOf = (db: string) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

let db: string;
let connection: Connection;
let client: RunbookClient;
const opened: Array<{ api: FastifyInstance; state: PgStateStore }> = [];

/** One API replica: its own connection pool to the shared state database, as a separate process would have. */
async function replica(extra: Partial<ApiOptions> = {}, state?: PgStateStore) {
  state ??= await PgStateStore.open(urlOf(db));
  const api = await buildApi({
    client,
    tokens: TokenStore.load(dev.tokensFile),
    codec,
    codecOrigins: [UI],
    rateLimit: 1_000_000,
    state,
    ...extra,
  });
  const r = { api, state };
  opened.push(r);
  return r;
}
async function stop(r: { api: FastifyInstance; state: PgStateStore }) {
  opened.splice(opened.indexOf(r), 1);
  await r.api.close();
  await r.state.close();
}

beforeAll(async () => {
  registerSecrets('payload key', key.toString('hex'));
  registerSecrets('API token', ...Object.values(tokens));
  db = await createDatabase('rbreplicas');
  connection = await Connection.connect(serverOptions());
  const targets = writeTargets({ 'replica-drill': {} });
  client = new RunbookClient(new Client({ connection }), {
    taskQueue: uniqueName('tq'),
    uiUrl: UI,
    namespace: 'default',
    targets: () => TargetRegistry.load(targets),
  });
});
afterAll(async () => {
  for (const r of [...opened]) await stop(r);
  await connection?.close();
  if (db) await dropDatabase(db);
});

const secret = async () => {
  const [p] = await codec.encode([
    {
      metadata: { encoding: Buffer.from('json/plain') },
      data: Buffer.from(JSON.stringify({ prompt: 'downgrade 0004' })),
    },
  ]);
  return {
    metadata: Object.fromEntries(
      Object.entries(p!.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p!.data ?? []).toString('base64'),
  };
};
const decode = async (api: FastifyInstance, cookie: string) =>
  api.inject({
    method: 'POST',
    url: '/codec/decode',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI, cookie },
    payload: { payloads: [await secret()] },
  });
async function signIn(api: FastifyInstance, who: keyof typeof tokens): Promise<string> {
  const r = await api.inject({ method: 'POST', url: '/session', headers: { authorization: `Bearer ${tokens[who]}` } });
  expect(r.statusCode).toBe(200);
  return String(r.headers['set-cookie']).split(';')[0]!;
}

describe('API replicas sharing their state in PostgreSQL', () => {
  it('a console session opened on one API opens the codec on the other; signing out on the other closes it on both', async () => {
    const one = await replica();
    const two = await replica();
    const cookie = await signIn(one.api, 'carol');
    const decoded = await decode(two.api, cookie);
    expect(decoded.statusCode).toBe(200);
    expect(
      Buffer.from(decoded.json<{ payloads: Array<{ data: string }> }>().payloads[0]!.data, 'base64').toString(),
    ).toBe('{"prompt":"downgrade 0004"}');

    const out = await two.api.inject({ method: 'DELETE', url: '/session', headers: { cookie } });
    expect(out.statusCode).toBe(204);
    for (const api of [one.api, two.api]) {
      const refused = await decode(api, cookie);
      expect(refused.statusCode).toBe(401);
      expect(refused.json<{ error: string }>().error).toContain('Not signed in');
    }
    await stop(one);
    await stop(two);
  });

  it('a live session outlives a restart of both APIs; a closed one stays closed', async () => {
    const one = await replica();
    const two = await replica();
    const live = await signIn(one.api, 'bob');
    const closed = await signIn(two.api, 'alice');
    await two.api.inject({ method: 'DELETE', url: '/session', headers: { cookie: closed } });
    await stop(one);
    await stop(two);

    const three = await replica();
    const four = await replica();
    for (const api of [three.api, four.api]) {
      expect((await decode(api, live)).statusCode).toBe(200);
      expect((await decode(api, closed)).statusCode).toBe(401);
    }
    await stop(three);
    await stop(four);
  });

  it('refuses an unknown session and one past its lifetime on every replica', async () => {
    const one = await replica();
    // A replica whose clock reads 9 hours later: the 8-hour session opened now has expired there.
    const later = await replica({ sessions: { now: () => Date.now() + 9 * 3600_000 } });
    const cookie = await signIn(one.api, 'carol');
    expect((await decode(later.api, cookie)).statusCode).toBe(401);
    expect((await decode(one.api, cookie)).statusCode).toBe(200);
    for (const api of [one.api, later.api]) {
      expect((await decode(api, `durable_runbooks_session=${randomBytes(32).toString('base64url')}`)).statusCode).toBe(
        401,
      );
    }
    await stop(one);
    await stop(later);
  });
});

describe('a state database that goes away', () => {
  it('answers 503 with a generic message while the database is gone', async () => {
    const doomed = await createDatabase('rbreplicas');
    const r = await replica({}, await PgStateStore.open(urlOf(doomed)));
    const cookie = await signIn(r.api, 'carol');
    await dropDatabase(doomed);
    const down = await decode(r.api, cookie);
    expect(down.statusCode).toBe(503);
    expect(down.json<{ error: string }>().error).toMatch(
      /^Sign-in and console sessions are unavailable for a moment \(request [\w-]+\): try again shortly; the API's log has the details\.$/,
    );
    // Bearer tokens do not need the store: the API still works for them.
    expect(
      (await r.api.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tokens.carol}` } }))
        .statusCode,
    ).toBe(200);
    await stop(r);
  });

  it('does not start on a state database it cannot reach, naming the variable and not its value', async () => {
    const url = `postgres://runbooks:hunter2secret@127.0.0.1:${await freePort()}/state`;
    const config = loadConfig({
      RUNBOOK_API_TOKENS: dev.tokensFile,
      RUNBOOK_STATE_DATABASE_URL: url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      RUNBOOK_API_PORT: String(await freePort()),
    });
    const err = await startApi(config).then(
      (app) => app.close(),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^The API cannot use its state database \(RUNBOOK_STATE_DATABASE_URL\): /);
    expect((err as Error).message).not.toContain('hunter2secret');
  });
});

// The whole browser flow across replicas: a load balancer that sends /auth/login to API 1, the
// provider's callback to API 2, the console's hand-off to API 1 and its session to API 2.
describe('single sign-on across replicas', () => {
  const audience = 'https://runbooks.test/api';
  let idp: Awaited<ReturnType<typeof startOidcProvider>>;
  let browser: Browser;
  let balancer: http.Server;
  let base: string;
  let one: { api: FastifyInstance; state: PgStateStore };
  let two: { api: FastifyInstance; state: PgStateStore };
  const served: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const clientSecret = randomBytes(16).toString('hex');
    registerSecrets('OIDC client secret', clientSecret);
    idp = await startOidcProvider({
      redirectUri: `${base}/auth/callback`,
      audience,
      clientId: 'runbooks-console',
      clientSecret,
      users: { ana: { email: 'ana@example.test', groups: ['sre'] } },
    });
    const sso = async () => {
      const state = await PgStateStore.open(urlOf(db));
      const signIn = await OidcSignIn.discover(
        {
          issuer: idp.issuer,
          clientId: 'runbooks-console',
          clientSecret,
          audience,
          rolesClaim: 'groups',
          nameClaim: 'email',
          roleMap: { sre: ['operator', 'approver'] },
          redirectUri: `${base}/auth/callback`,
        },
        state,
      );
      // One pool per replica, shared by its sessions and its sign-ins, as src/api/main.ts does.
      const r = await replica({ sso: { signIn, provider: 'Test IdP' } }, state);
      await r.api.listen({ host: '127.0.0.1', port: await freePort() });
      return r;
    };
    one = await sso();
    two = await sso();
    const upstream = {
      1: (one.api.server.address() as { port: number }).port,
      2: (two.api.server.address() as { port: number }).port,
    };
    const route = (path: string): 1 | 2 => (path.startsWith('/auth/callback') || path.startsWith('/session') ? 2 : 1);
    balancer = http.createServer((req, res) => {
      const to = route(req.url ?? '/');
      served.push(`${req.method} ${(req.url ?? '/').split('?')[0]} → API ${to}`);
      const up = http.request(
        { host: '127.0.0.1', port: upstream[to], method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((ok) => balancer.listen(port, '127.0.0.1', ok));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => (balancer ? balancer.close(ok) : ok(undefined)));
    await idp?.close();
  });

  async function signInAtProvider(page: Page) {
    await page.goto(`${base}/console/`);
    await page.getByRole('button', { name: 'Sign in with Test IdP' }).click();
    await page.locator('input[name=login]').fill('ana');
    await page.locator('input[name=password]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  it('a sign-in begun on one replica finishes on the other, and its session opens the codec on the first', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInAtProvider(page);
    await page.getByText('ana@example.test (operator, approver)').waitFor();
    expect(served).toEqual(
      expect.arrayContaining([
        'GET /auth/login → API 1',
        'GET /auth/callback → API 2',
        'POST /auth/handoff → API 1',
        'POST /session → API 2',
      ]),
    );
    const session = (await context.cookies(base)).find((c) => c.name === 'durable_runbooks_session');
    expect(session).toBeDefined();
    expect((await decode(one.api, `${session!.name}=${session!.value}`)).statusCode).toBe(200);
    await context.close();
  });

  it('a hand-off is redeemed once, even when both replicas are asked for it at the same moment', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.route('**/auth/handoff', (r) => r.abort()); // keep the one-time id instead of redeeming it
    const callback = page.waitForResponse((r) => r.url().includes('/auth/callback'));
    await signInAtProvider(page);
    const id = /^\/console\/#\/sso\/([\w-]+)$/.exec((await callback).headers().location ?? '')?.[1];
    expect(id).toBeDefined();
    const binding = (await context.cookies(`${base}/auth`)).find((c) => c.name === 'runbooks_sso')!.value;
    registerSecrets('SSO hand-off', id, binding);
    const redeem = (api: FastifyInstance) =>
      api.inject({
        method: 'POST',
        url: '/auth/handoff',
        headers: { 'content-type': 'application/json', cookie: `runbooks_sso=${binding}` },
        payload: { id },
      });
    const answers = await Promise.all([redeem(one.api), redeem(two.api)]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 404]);
    expect(answers.find((a) => a.statusCode === 200)!.json()).toMatchObject({
      name: 'ana@example.test',
      roles: ['operator', 'approver'],
    });
    expect((await redeem(one.api)).statusCode).toBe(404);
    await context.close();
  });
});
