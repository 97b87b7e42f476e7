import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec } from '../src/codec.js';
import { apiWithDevTokens } from './support/api.js';
import { startRig, writeTargets, type TestRig } from './support/harness.js';
import { until } from './support/wait.js';

// Generated bad input against the real API (and through it the real Temporal server): 1,000 cases
// per route. Every answer is a success or a 4xx with a message, never a 5xx; no run is started by a
// refused request, and no decision is counted from a refused one.
describe('HTTP API under generated input', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  let tokens: Record<string, string>;
  const RUNS = 1000;
  const UI = 'http://127.0.0.1:8233';
  const codec = new AesGcmCodec('fz', new Map([['fz', randomBytes(32)]]));

  beforeAll(async () => {
    rig = await startRig(writeTargets({ 'fuzz-drill': {}, 'fuzz-gate': {} }), {
      signingKey: randomBytes(32).toString('hex'),
    });
    ({ api, tokens } = await apiWithDevTokens(rig.signed, { codec, codecOrigins: [UI] }));
  });
  afterAll(async () => {
    await api?.close();
    await rig?.stop();
  });

  const token = fc.oneof(
    fc.constantFrom('alice', 'bob', 'carol').map((p) => tokens[p]!),
    fc.string(),
    fc.constant(undefined),
  );
  const json = fc.jsonValue({ maxDepth: 3 });
  const segment = fc.oneof(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.constantFrom('approval-drill', 'db-access', 'fuzz-drill', 'proceed', '..', '%00', '%2F', 'a'.repeat(300)),
  );

  async function call(
    method: 'GET' | 'POST' | 'DELETE' | 'OPTIONS',
    url: string,
    auth: string | undefined,
    payload?: unknown,
    raw?: string,
    extra: Record<string, string> = {},
  ) {
    const r = await api.inject({
      method,
      url,
      headers: {
        ...extra,
        ...(auth !== undefined ? { authorization: `Bearer ${auth}` } : {}),
        ...(raw !== undefined || payload !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      payload: raw ?? (payload === undefined ? undefined : JSON.stringify(payload)),
    });
    return { status: r.statusCode, body: r.body };
  }
  /** The property every answer has: 2xx/3xx, or 4xx with a JSON {error} that says something. */
  function wellFormed(r: { status: number; body: string }): boolean {
    if (r.status >= 500) return false;
    if (r.status < 400) return true;
    try {
      const e = (JSON.parse(r.body) as { error?: unknown }).error;
      return typeof e === 'string' && e.length > 10;
    } catch {
      return false;
    }
  }
  const runsOf = async (target: string) => (await rig.signed.list({ target, limit: 1000 })).map((r) => r.id);

  it('POST /runbooks/{name}/runs: starts a run exactly when it answers 201', { timeout: 300_000 }, async () => {
    const started: string[] = [];
    const t0 = Date.now();
    let slowest = { ms: 0, what: '' };
    // Biased towards a real runbook, an operator and the real target, so some requests are valid.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: fc.constant('approval-drill'), weight: 2 }, { arbitrary: segment, weight: 1 }),
        fc.oneof({ arbitrary: fc.constant(tokens.alice), weight: 2 }, { arbitrary: token, weight: 1 }),
        fc.oneof(
          fc.record(
            {
              target: fc.oneof(fc.constant('fuzz-drill'), fc.string()),
              input: fc.oneof(fc.constant({}), fc.dictionary(fc.string(), json), fc.record({ prompt: fc.string() })),
              dryRun: fc.oneof(fc.boolean(), json),
            },
            { requiredKeys: [] },
          ),
          json,
        ),
        fc.option(fc.string(), { nil: undefined }),
        async (name, auth, body, raw) => {
          const t = Date.now();
          const url = `/runbooks/${encodeURIComponent(name)}/runs`;
          let timer: NodeJS.Timeout | undefined;
          const r = await Promise.race([
            call('POST', url, auth, body, raw),
            new Promise<never>((_, fail) => {
              timer = setTimeout(
                () => fail(new Error(`POST ${url} ${JSON.stringify(body)?.slice(0, 200)} had no answer after 60 s`)),
                60_000,
              );
            }),
          ]).finally(() => clearTimeout(timer));
          if (Date.now() - t > slowest.ms) slowest = { ms: Date.now() - t, what: `${name} → ${r.status}` };
          if (r.status === 201) started.push((JSON.parse(r.body) as { id: string }).id);
          expect(wellFormed(r), `${r.status} ${r.body}`).toBe(true);
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(started.length).toBeGreaterThan(0);
    // Only the answered starts exist on the server: none from a refused request.
    // (CI once timed out in this test, not reproduced: say where the time went if it does again.)
    const requestsMs = Date.now() - t0;
    await until(
      async () => (await runsOf('fuzz-drill')).length >= started.length,
      'the visibility store to list the started runs',
      120_000,
      500,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; ${started.length} started in ${requestsMs} ms, slowest request ${slowest.ms} ms (${slowest.what})`,
      );
    });
    expect((await runsOf('fuzz-drill')).sort()).toEqual([...started].sort());
    for (const id of started) await rig.signed.abort(id, 'alice', 'fuzz run').catch(() => undefined);
  });

  it('GET /runs, /runs/{id}, /runs/{id}/timeline, /me, /targets: never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/runs', '/runs/', '/runs/x/timeline', '/me', '/targets', '/runbooks'),
        segment,
        token,
        fc.dictionary(fc.constantFrom('runbook', 'target', 'status', 'limit', 'format', 'x'), fc.string()),
        async (base, id, auth, query) => {
          const path =
            base === '/runs/'
              ? `/runs/${encodeURIComponent(id)}`
              : base === '/runs/x/timeline'
                ? `/runs/${encodeURIComponent(id)}/timeline`
                : base;
          const r = await call('GET', `${path}?${new URLSearchParams(query)}`, auth);
          expect(wellFormed(r), `${path} ${r.status} ${r.body.slice(0, 200)}`).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('POST /runs/{id}/gates/{gate}, /abort, /root-cause: refused ones count no decision', async () => {
    const { id } = await rig.signed.start('approval-drill', { target: 'fuzz-gate', initiator: 'alice' });
    await until(async () => (await rig.signed.status(id)).pendingGates.length > 0, 'the gate to open');
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(id), segment),
        fc.oneof(fc.constant('proceed'), segment),
        token,
        fc.oneof(
          fc.record(
            {
              decision: fc.oneof(fc.constantFrom('approve', 'reject'), fc.string()),
              comment: fc.oneof(fc.string(), json),
              planDigest: fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f]{16}$/)),
              action: fc.string(),
              correction: json,
            },
            { requiredKeys: [] },
          ),
          json,
        ),
        fc.constantFrom('gates', 'abort', 'root-cause'),
        async (runId, gate, auth, body, what) => {
          // Only carol (viewer) and strangers may abort: a real abort would end the property early.
          const safeAuth = what === 'abort' && auth === tokens.alice ? tokens.carol : auth;
          const url =
            what === 'gates'
              ? `/runs/${encodeURIComponent(runId)}/gates/${encodeURIComponent(gate)}`
              : `/runs/${encodeURIComponent(runId)}/${what}`;
          const r = await call('POST', url, safeAuth, body);
          if (what === 'gates' && r.status === 200) accepted++;
          expect(wellFormed(r), `${url} ${r.status} ${r.body.slice(0, 200)}`).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
    // Decisions the run counted are exactly the ones the API accepted (at most one: it needs one).
    const run = await rig.signed.status(id);
    const counted = (run.journal ?? []).filter(
      (e) => e.kind === 'decision' && (e.outcome === 'approved' || e.outcome === 'rejected'),
    ).length;
    expect(counted).toBe(accepted);
    if (run.status === 'waiting' || run.status === 'running') await rig.signed.abort(id, 'alice', 'fuzz done');
  });

  it('/codec/encode, /codec/decode, /session: generated payloads, cookies and origins, never a 5xx, never plaintext without a person', async () => {
    const sessions = await Promise.all(
      (['alice', 'carol'] as const).map(
        async (p) =>
          String(
            (await api.inject({ method: 'POST', url: '/session', headers: { authorization: `Bearer ${tokens[p]}` } }))
              .headers['set-cookie'],
          ).split(';')[0]!,
      ),
    );
    const secret = `fuzz-secret-${randomBytes(4).toString('hex')}`;
    const [sealed] = await codec.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(secret)) },
    ]);
    const b64 = (b?: Uint8Array | null) => Buffer.from(b ?? []).toString('base64');
    const real = {
      metadata: Object.fromEntries(Object.entries(sealed!.metadata!).map(([k, v]) => [k, b64(v)])),
      data: b64(sealed!.data),
    };
    let plaintextAnswers = 0;
    const closed = new Set<string>();
    const base64ish = fc.oneof(
      fc.base64String(),
      fc.string(),
      fc.constant(real.data),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a).toString('base64')),
    );
    const payload = fc.oneof(
      fc.constant(real),
      fc.record(
        {
          metadata: fc.oneof(
            fc.constant(real.metadata),
            fc.dictionary(fc.constantFrom('encoding', 'encryption-key-id', 'x'), base64ish),
            json,
          ),
          data: fc.oneof(base64ish, json),
        },
        { requiredKeys: [] },
      ),
      json,
    );
    // 1,000 calls per route.
    for (const route of [
      'POST /codec/encode',
      'POST /codec/decode',
      'OPTIONS /codec/decode',
      'POST /session',
      'DELETE /session',
      'POST /codec/other',
    ])
      await fc.assert(
        fc.asyncProperty(
          token,
          fc.oneof(fc.constantFrom(...sessions), fc.string(), fc.constant(undefined)),
          fc.oneof(
            fc.constant(UI),
            fc.constant('http://127.0.0.1:9999'),
            fc.constant('null'),
            fc.string(),
            fc.constant(undefined),
          ),
          fc.oneof(fc.record({ payloads: fc.array(payload, { maxLength: 4 }) }), json),
          async (auth, cookie, origin, body) => {
            const [method, url] = route.split(' ') as ['POST' | 'DELETE' | 'OPTIONS', string];
            const headers = {
              ...(cookie !== undefined
                ? { cookie: cookie.includes('=') ? cookie : `durable_runbooks_session=${cookie}` }
                : {}),
              ...(origin !== undefined ? { origin } : {}),
            };
            const r = await call(
              method,
              url,
              auth,
              method === 'POST' && url.startsWith('/codec') ? body : undefined,
              undefined,
              headers,
            );
            expect(
              wellFormed(r) || (method === 'OPTIONS' && r.status === 204) || (method === 'DELETE' && r.status === 204),
              `${route} ${r.status} ${r.body.slice(0, 200)}`,
            ).toBe(true);
            // The plaintext leaves only for a person the API knows: a known token, or (no token) a session opened and not closed, from the UI's origin.
            const bearer = auth === undefined ? undefined : /^Bearer\s+(\S+)$/i.exec(`Bearer ${auth}`)?.[1];
            const known =
              bearer !== undefined
                ? Object.values(tokens).includes(bearer)
                : cookie !== undefined &&
                  sessions.includes(cookie) &&
                  !closed.has(cookie) &&
                  (origin === undefined || origin === UI);
            if (r.body.includes(Buffer.from(JSON.stringify(secret)).toString('base64'))) {
              plaintextAnswers++;
              expect(known, `${route} answered plaintext to an unknown caller`).toBe(true);
            }
            if (route === 'DELETE /session' && r.status === 204 && cookie !== undefined) closed.add(cookie);
          },
        ),
        { numRuns: RUNS },
      );
    expect(plaintextAnswers, 'generated calls that were allowed to decode').toBeGreaterThan(0);
  });

  it('POST /alerts/alertmanager: generated payloads are routed or reported, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        token,
        fc.oneof(
          json,
          fc.record({
            alerts: fc.array(
              fc.oneof(
                json,
                fc.record(
                  {
                    status: fc.constantFrom('firing', 'resolved', 'x'),
                    labels: fc.dictionary(
                      fc.constantFrom('alertname', 'runbook', 'runbook_target', 'job'),
                      fc.string(),
                    ),
                  },
                  { requiredKeys: [] },
                ),
              ),
              { maxLength: 5 },
            ),
          }),
        ),
        async (auth, body) => {
          // alice's alerts for a real runbook would start runs on unknown targets: they are refused as unroutable.
          const r = await call('POST', '/alerts/alertmanager', auth, body);
          expect(wellFormed(r), `${r.status} ${r.body.slice(0, 200)}`).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
