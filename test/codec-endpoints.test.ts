import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AesGcmCodec } from '../src/codec.js';
import { apiWithDevTokens } from './support/api.js';
import { finished, gateOpened, historyText, startRig, writeTargets, type TestRig } from './support/harness.js';
import { registerSecrets } from './support/secrets.js';

// The API's codec endpoints, as the Temporal UI (from the browser, with the console's session
// cookie) and the temporal CLI (--codec-endpoint, --codec-auth) call them: plaintext only for a
// signed-in caller, the cookie only from the UI's origin, encoding only for those who may act.
describe('codec endpoints on the API', () => {
  const UI = 'http://127.0.0.1:8233';
  const key = randomBytes(32);
  const codec = new AesGcmCodec('k1', new Map([['k1', key]]));
  let rig: TestRig;
  let api: FastifyInstance;
  let tokens: Record<'alice' | 'bob' | 'carol', string>;

  beforeAll(async () => {
    registerSecrets('payload key', key.toString('hex'));
    rig = await startRig(writeTargets({ 'codec-drill': { policy: { unsignedDecisions: 'allow' } } }), {
      dataConverter: { payloadCodecs: [codec] },
    });
    ({ api, tokens } = await apiWithDevTokens(rig.client, { codec, codecOrigins: [UI] }));
  });
  afterAll(async () => {
    await api?.close();
    await rig?.stop();
  });

  const plain = (value: unknown) => ({
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: Buffer.from(JSON.stringify(value)).toString('base64'),
  });
  const post = (op: 'encode' | 'decode', payloads: unknown[], headers: Record<string, string> = {}) =>
    api.inject({
      method: 'POST',
      url: `/codec/${op}`,
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      payload: { payloads },
    });
  const bearer = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` });
  async function sessionCookie(who: keyof typeof tokens): Promise<string> {
    const r = await api.inject({ method: 'POST', url: '/session', headers: bearer(who) });
    expect(r.statusCode).toBe(200);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(
      /^durable_runbooks_session=[\w-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/,
    );
    return setCookie.split(';')[0]!;
  }
  const encrypted = async (value: unknown) =>
    (
      await codec.encode([
        { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) },
      ])
    )[0]!;
  const asJson = (p: {
    metadata?: Record<string, Uint8Array | null | undefined> | null;
    data?: Uint8Array | null;
  }) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });

  it('decodes for the UI with the console session cookie, and for a bearer token; refuses a caller with neither', async () => {
    const secret = asJson(await encrypted({ prompt: 'downgrade 0004 on codec-drill' }));
    const anonymous = await post('decode', [secret], { origin: UI });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json<{ error: string }>().error).toBe(
      'Not signed in: sign in to the console (its session opens the codec for the Temporal UI), or send "Authorization: Bearer <token>".',
    );
    expect(anonymous.headers['access-control-allow-origin']).toBe(UI); // so the UI can read why
    expect(anonymous.body).not.toContain('downgrade');

    const cookie = await sessionCookie('carol'); // a viewer may read
    const decoded = await post('decode', [secret], { origin: UI, cookie });
    expect(decoded.statusCode).toBe(200);
    expect(decoded.headers['access-control-allow-origin']).toBe(UI);
    expect(decoded.headers['access-control-allow-credentials']).toBe('true');
    expect(decoded.json()).toEqual({ payloads: [plain({ prompt: 'downgrade 0004 on codec-drill' })] });

    const viaCli = await post('decode', [secret], bearer('carol'));
    expect(viaCli.json()).toEqual(decoded.json());
  });

  it("answers the UI's preflight for its origin only, and honours the cookie from no other origin", async () => {
    const preflight = (origin: string) =>
      api.inject({
        method: 'OPTIONS',
        url: '/codec/encode',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const ok = await preflight(UI);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers).toMatchObject({
      'access-control-allow-origin': UI,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type, x-namespace, authorization',
    });
    const evil = await preflight('http://127.0.0.1:9999');
    expect(evil.statusCode).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    expect(evil.json<{ error: string }>().error).toBe(
      'Origin http://127.0.0.1:9999 may not call the codec: add it to RUNBOOK_CODEC_ORIGINS.',
    );

    // A page on another port of this host gets the cookie sent along (same site); it is refused anyway.
    const cookie = await sessionCookie('bob');
    const forged = await post('decode', [asJson(await encrypted({ secret: 'x' }))], {
      origin: 'http://127.0.0.1:9999',
      cookie,
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json<{ error: string }>().error).toBe(
      'Origin http://127.0.0.1:9999 may not use the console session: add it to RUNBOOK_CODEC_ORIGINS, or send a bearer token.',
    );
    // A sandboxed page sends "Origin: null": never an allowed origin.
    const sandboxed = await post('decode', [asJson(await encrypted({ secret: 'x' }))], { origin: 'null', cookie });
    expect(sandboxed.statusCode).toBe(403);
    expect(sandboxed.headers['access-control-allow-origin']).toBeUndefined();
    // The cookie opens the codec only: every other route still needs the bearer token.
    const runs = await api.inject({ method: 'GET', url: '/runs', headers: { cookie } });
    expect(runs.statusCode).toBe(401);
    // Nor does it renew itself: a new session needs the token (a header that is not one does not count).
    const renew = await api.inject({
      method: 'POST',
      url: '/session',
      headers: { cookie, authorization: 'Basic Ym9iOng=' },
    });
    expect(renew.statusCode).toBe(400);
    expect(renew.json<{ error: string }>().error).toBe(
      'A session is opened with a bearer token: send "Authorization: Bearer <token>".',
    );
    expect(renew.headers['set-cookie']).toBeUndefined();
  });

  it('encodes for an approver or operator, not for a viewer; signing out closes the session', async () => {
    const decision = plain({ gate: 'proceed', decision: 'approve', by: 'bob' });
    const bob = await sessionCookie('bob');
    const enc = await post('encode', [decision], { origin: UI, cookie: bob });
    expect(enc.statusCode).toBe(200);
    const [out] = enc.json<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>().payloads;
    expect(Buffer.from(out!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(out!.data, 'base64').toString()).not.toContain('approve');
    expect((await post('decode', [out], { origin: UI, cookie: bob })).json()).toEqual({ payloads: [decision] });

    const carol = await post('encode', [decision], { origin: UI, cookie: await sessionCookie('carol') });
    expect(carol.statusCode).toBe(403);
    expect(carol.json<{ error: string }>().error).toBe(
      'carol lacks the operator or approver role needed to encode payloads (the input of signals and updates); has: viewer.',
    );

    const out2 = await api.inject({ method: 'DELETE', url: '/session', headers: { cookie: bob } });
    expect(out2.statusCode).toBe(204);
    expect(String(out2.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await post('decode', [out], { origin: UI, cookie: bob })).statusCode).toBe(401);
  });

  it('refuses an altered payload or one under an unknown key with the reason, and malformed input as such', async () => {
    const good = asJson(await encrypted({ a: 1 }));
    const data = Buffer.from(good.data, 'base64');
    data[20] = data[20]! ^ 1;
    const altered = await post('decode', [{ ...good, data: data.toString('base64') }], bearer('bob'));
    expect(altered.statusCode).toBe(422);
    expect(altered.json<{ error: string }>().error).toBe(
      'A payload encrypted with key "k1" does not authenticate: it was altered, or key "k1" here is not the key it was written with.',
    );
    const other = asJson(
      (
        await new AesGcmCodec('k9', new Map([['k9', randomBytes(32)]])).encode([
          { metadata: {}, data: Buffer.from('{}') },
        ])
      )[0]!,
    );
    const unknown = await post('decode', [other], bearer('bob'));
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json<{ error: string }>().error).toBe(
      'A payload is encrypted with key "k9", which this process does not have: add it to RUNBOOK_PAYLOAD_OLD_KEYS (keys known: k1).',
    );
    const malformed = await api.inject({
      method: 'POST',
      url: '/codec/decode',
      headers: { ...bearer('bob'), 'content-type': 'application/json' },
      payload: { payload: [] },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<{ error: string }>().error).toContain("must have required property 'payloads'");
  });

  it('tells a caller that encryption is off when the API has no key', async () => {
    const { api: plainApi, tokens: t } = await apiWithDevTokens(rig.client);
    try {
      const r = await plainApi.inject({
        method: 'POST',
        url: '/codec/decode',
        headers: { authorization: `Bearer ${t.bob}`, 'content-type': 'application/json' },
        payload: { payloads: [] },
      });
      expect(r.statusCode).toBe(404);
      expect(r.json<{ error: string }>().error).toContain(
        'Payload encryption is off on this API (RUNBOOK_PAYLOAD_KEY is unset)',
      );
    } finally {
      await plainApi.close();
    }
  });

  it('the temporal CLI approves an encrypted run through the codec with a bearer token; without one it sends nothing', async () => {
    const base = await api.listen({ host: '127.0.0.1', port: 0 });
    const MARKER = `cli-${randomBytes(4).toString('hex')}`;
    const { id } = await rig.client.start('approval-drill', {
      target: 'codec-drill',
      initiator: 'alice',
      input: { prompt: `Drill ${MARKER}` },
    });
    await gateOpened(rig.client, id, 'proceed');
    const signal = (extra: string[]) =>
      execa(
        inject('temporalCli'),
        [
          'workflow',
          'signal',
          '--address',
          inject('temporalAddress'),
          '--workflow-id',
          id,
          '--name',
          'decide',
          '--input',
          JSON.stringify({
            gate: 'proceed',
            decision: 'approve',
            by: 'bob',
            roles: ['approver'],
            comment: `ok ${MARKER}`,
          }),
          '--codec-endpoint',
          `${base}/codec`,
          ...extra,
        ],
        { reject: false },
      );

    const refused = await signal([]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('failed signalling workflow: Unauthorized');
    expect(refused.stderr).toContain('Not signed in');
    expect((await rig.client.status(id)).pendingGates.map((g) => g.gate)).toEqual(['proceed']);

    const sent = await signal(['--codec-auth', `Bearer ${tokens.bob}`]);
    expect(sent.exitCode, sent.stderr).toBe(0);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('completed');
    expect(run.result).toMatchObject({ findings: { approvedBy: ['bob'], channels: ['signal'] } });
    expect(await historyText(rig.client, id)).not.toContain(MARKER); // the CLI's input went in encrypted
  });
});
