import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginFindings } from '../src/runbooks/login-errors/workflow.js';
import { finished, gateOpened, historyText, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import type { WorkerFiles } from './support/imports.js';
import { freePort } from './support/ports.js';
import { days, issue, makeCa } from './support/tls.js';
import { until } from './support/wait.js';
import { killWeb, startWeb, webAppService, webFiles, type WebOptions } from './support/webapp.js';

// login-errors on the fixture's FastAPI app under uvicorn, over real HTTP and real HTTPS (a test
// CA and certificates made with openssl): each fault is configured in the app, found, and where
// the target names a remediation for it, fixed behind the gate and verified.
describe('login-errors', () => {
  let rig: TestRig;
  const bob = { person: 'bob', roles: ['approver'] };
  const PROBE_PASSWORD = `pr0be-${Math.random().toString(36).slice(2)}`;
  const web: Record<string, { files: WorkerFiles; opts: WebOptions }> = {};
  const FRONT = 'https://pos.gestiq.example';
  const sed = (file: string, variable: string, value: string) =>
    `sed -i 's|^${variable}=.*|${variable}=${value}|' '${file}'`;

  async function app(name: string, env: Record<string, string>, tls?: { cert: string; key: string }) {
    const files = webFiles(tmpDir(`login-${name}-`));
    const opts: WebOptions = { port: await freePort(), env: { LOGIN_PASSWORD: PROBE_PASSWORD, ...env }, tls };
    web[name] = { files, opts };
    return { files, opts, url: `${tls ? 'https' : 'http'}://127.0.0.1:${opts.port}` };
  }
  const target = (
    a: Awaited<ReturnType<typeof app>>,
    login: Record<string, unknown>,
    remediations: Record<string, unknown> = {},
  ) => ({
    app: { url: a.url, service: 'api', logFile: a.files.logFile, timeout: '3s' },
    services: { api: webAppService(a.files, a.opts) },
    login: {
      probe: { username: 'ana@gestiq.example', passwordEnv: 'LOGIN_PROBE_PASSWORD' },
      rateLimit: { envFile: a.files.envFile },
      authFailures: { window: '1s' },
      ...login,
    },
    remediations,
    policy: { unsignedDecisions: 'allow' },
  });
  const run = async (t: string, input: Record<string, unknown> = {}) =>
    rig.client.start('login-errors', { target: t, initiator: 'alice', input });
  const result = async (id: string) =>
    (await finished(rig.client, id)).result as { healthy: boolean; summary: string[]; findings: LoginFindings };

  beforeAll(async () => {
    const ca = await makeCa(tmpDir('ca-'), 'Gestiq Test CA');
    const stranger = await makeCa(tmpDir('ca2-'), 'Unknown CA');
    const ip = ['IP:127.0.0.1'];
    const good = await issue(ca, 'good', ip, { from: days(-1), to: days(90) });
    const expired = await issue(ca, 'expired', ip, { from: days(-60), to: days(-2) });
    const wrongHost = await issue(ca, 'wrong-host', ['DNS:pos.other.example'], { from: days(-1), to: days(90) });
    const unknown = await issue(stranger, 'unknown', ip, { from: days(-1), to: days(90) });

    const limited = await app('limited', { RATE_LIMIT_ENABLED: '1', RATE_LIMIT_PER_MINUTE: '3' });
    const cookies = await app('cookies', {
      COOKIE_DOMAIN: '.gestiq.example',
      COOKIE_SAMESITE: 'lax',
      CORS_ORIGINS: 'https://old-pos.gestiq.example',
    });
    const broken = await app('broken', { LOGIN_BROKEN: '1' });
    const secure = await app('secure', { COOKIE_SECURE: '1', CORS_ORIGINS: FRONT, COOKIE_SAMESITE: 'none' }, good);
    const old = await app('expired', { COOKIE_SECURE: '1' }, expired);
    const host = await app('wrong-host', { COOKIE_SECURE: '1' }, wrongHost);
    const stray = await app('unknown-ca', { COOKIE_SECURE: '1' }, unknown);
    const tls = { ca: ca.cert };
    const targets = writeTargets({
      'login-limited': target(
        limited,
        {},
        {
          'disable-rate-limit': {
            command: sed(limited.files.envFile, 'RATE_LIMIT_ENABLED', '0'),
            fixes: ['rate-limited'],
            restart: 'api',
          },
          'fix-cookies': { command: 'false', fixes: ['cookie-domain'] },
        },
      ),
      'login-cookies': target(
        cookies,
        { origins: [FRONT] },
        {
          'fix-cookies': {
            command: `${sed(cookies.files.envFile, 'COOKIE_DOMAIN', '')} && ${sed(cookies.files.envFile, 'COOKIE_SAMESITE', 'none')} && echo 'COOKIE_SECURE=1' >> '${cookies.files.envFile}'`,
            fixes: ['cookie-rejected', 'cookie-domain', 'cookie-samesite'],
            restart: 'api',
          },
          'fix-cors': { command: sed(cookies.files.envFile, 'CORS_ORIGINS', FRONT), fixes: ['cors'], restart: 'api' },
          'disable-rate-limit': { command: 'false', fixes: ['rate-limited'], restart: 'api' },
        },
      ),
      'login-broken': target(
        broken,
        {},
        {
          'restart-app': {
            command: 'echo "cannot reach the secrets store" >&2; exit 4',
            fixes: ['login-5xx'],
            restart: 'api',
          },
        },
      ),
      'login-https': target(secure, { origins: [FRONT], tls }),
      'login-expired': target(old, { tls }),
      'login-wrong-host': target(host, { tls }),
      'login-unknown-ca': target(stray, { tls }),
    });
    for (const w of Object.values(web)) await startWeb(w.files, w.opts);
    rig = await startRig(targets, { env: { ...process.env, LOGIN_PROBE_PASSWORD: PROBE_PASSWORD } });
  });
  afterAll(async () => {
    for (const w of Object.values(web)) await killWeb(w.files);
    await rig?.stop();
  });

  it('logins refused by the rate limiter: only the remediation for that is offered; approved, the limiter is off and logins answer again', async () => {
    const w = web.limited!;
    for (let i = 0; i < 6; i++) {
      await fetch(`http://127.0.0.1:${w.opts.port}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'ana', password: 'typo' }),
      });
    }
    const { id } = await run('login-limited');
    await gateOpened(rig.client, id, 'remediate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(gate.prompt).toContain(
      'Cause: rate-limited: The rate limiter refuses logins: bad-credentials login answered 429 (Retry-After 60); RATE_LIMIT_ENABLED=1;',
    );
    expect(gate.prompt).toContain('RateLimitMiddleware: limited client=127.0.0.1 path=/login (3/min)');
    expect(gate.prompt).toContain('Plan: disable-rate-limit (for rate-limited; then restart api)');
    expect(gate.prompt).not.toContain('fix-cookies');
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);
    const r = await result(id);
    expect(r.findings.outcome).toBe('fixed');
    expect(r.healthy).toBe(true);
    expect(r.findings.ran?.map((x) => [x.name, x.exitCode])).toEqual([['disable-rate-limit', 0]]);
    expect(r.findings.after?.badCredentials.status).toBe(401);
    expect(r.findings.after?.goodLogin?.status).toBe(200);
    expect(r.findings.after?.rateLimit.value).toBe('0');
    expect(readFileSync(w.files.envFile, 'utf8')).toContain('RATE_LIMIT_ENABLED=0');
    expect(readFileSync(w.files.logFile, 'utf8')).toContain('(RATE_LIMIT_ENABLED=0)');
    // The probe account's password is read on the worker and never enters the history.
    const history = await historyText(rig.client, id);
    expect(history).toContain('RATE_LIMIT_ENABLED'); // the payloads are read, not their bytes
    expect(history).not.toContain(PROBE_PASSWORD);
  });

  it('cookies browsers drop and a refused CORS origin are fixed by their two remediations; the 401/403 share over the window is reported for a person', async () => {
    const w = web.cookies!;
    const { id } = await run('login-cookies', { window: '6s' });
    // Failed logins during the measured window: the share the alert would fire on.
    await until(
      async () =>
        (await rig.client.status(id)).journal?.some((e) => e.step === 'auth-window-start' && e.outcome === 'ok') ??
        false,
      'the window to start',
    );
    for (let i = 0; i < 30; i++) {
      await fetch(`http://127.0.0.1:${w.opts.port}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: `user${i}`, password: 'wrong' }),
      });
    }
    await gateOpened(rig.client, id, 'remediate');
    const mid = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(mid.prompt).toContain(
      "Cause: cookie-rejected: Browsers drop cookie gestiq_session (Domain=gestiq.example, Secure=false, SameSite=lax): Cookie not in this host's domain.",
    );
    expect(mid.prompt).toContain(
      'Cause: cookie-domain: Cookie gestiq_session has Domain=gestiq.example, but COOKIE_DOMAIN should be (unset: host-only).',
    );
    expect(mid.prompt).toContain(
      `Cause: cookie-samesite: The front-end (${FRONT}) is on another site, and cookie gestiq_session is SameSite=lax`,
    );
    expect(mid.prompt).toContain(
      `Cause: cors: The preflight from ${FRONT} is refused: it answers 400 (Disallowed CORS origin); Access-Control-Allow-Origin is absent, not ${FRONT}`,
    );
    expect(mid.prompt).toMatch(/Cause: auth-failures: 3\d of 3\d requests were 401\/403 in \d s/);
    expect(mid.prompt).toContain('No remediation is declared for auth-failures: a person must fix it.');
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);
    const r = await result(id);
    expect(r.findings.ran?.map((x) => x.name)).toEqual(['fix-cookies', 'fix-cors']);
    expect(r.findings.restarted?.map((s) => s.service)).toEqual(['api']);
    expect(r.findings.outcome).toBe('fixed');
    expect(r.healthy).toBe(false); // the 401/403 share is for a person
    expect(r.findings.remaining.map((c) => c.cause)).toEqual(['auth-failures']);
    const cookie = r.findings.after!.goodLogin!.cookies[0]!;
    expect([cookie.domain, cookie.sameSite, cookie.secure, cookie.accepted]).toEqual([null, 'none', true, true]);
    expect(r.findings.after!.cors).toMatchObject([
      { origin: FRONT, ok: true, allowOrigin: FRONT, allowCredentials: true },
    ]);
  });

  it("a login answering 500 is shown with the app's own error line; a failing remediation fails the run with its output and changes nothing", async () => {
    const { id } = await run('login-broken');
    await gateOpened(rig.client, id, 'remediate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'remediate')!;
    expect(gate.prompt).toContain(
      'Cause: login-5xx: A bad-credentials login answers 500 ({"detail":"internal server error"}); the app logged:',
    );
    expect(gate.prompt).toContain('app.error: login failed: SECRET_KEY is not set (sessions cannot be signed)');
    const env = readFileSync(web.broken!.files.envFile, 'utf8');
    await rig.client.decide(id, 'remediate', { decision: 'approve' }, bob);
    const done = await finished(rig.client, id);
    expect(done.status).toBe('failed');
    expect(done.error).toContain(
      'Remediation "restart-app" of target "login-broken" exited with 4. Check what it changed by hand',
    );
    expect(done.error).toContain('cannot reach the secrets store');
    expect(readFileSync(web.broken!.files.envFile, 'utf8')).toBe(env);
    expect(done.journal?.some((e) => e.step === 'restart')).toBe(false);
  });

  it('over HTTPS: a good certificate and a cookie browsers keep is healthy; expired, wrong-host and unknown-CA certificates are each named, not crashed on', async () => {
    const ids = await Promise.all(
      ['login-https', 'login-expired', 'login-wrong-host', 'login-unknown-ca'].map(async (t) => (await run(t)).id),
    );
    const [ok, expired, wrongHost, unknown] = await Promise.all(ids.map(result));
    for (const [i, r] of [ok, expired, wrongHost, unknown].entries())
      expect(r, `run ${ids[i]}: ${(await rig.client.status(ids[i]!)).error}`).toBeDefined();
    expect(ok!.findings.outcome).toBe('healthy');
    expect(ok!.healthy).toBe(true);
    expect(ok!.findings.before.tls).toMatchObject({
      trusted: true,
      hostnameOk: true,
      subject: 'CN=good',
      issuer: 'CN=Gestiq Test CA',
    });
    expect(ok!.findings.before.tls!.daysLeft).toBeGreaterThanOrEqual(89);
    expect(ok!.findings.before.goodLogin?.cookies[0]).toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'none',
      accepted: true,
    });
    expect(ok!.findings.notChecked).toHaveLength(1);
    expect(ok!.findings.notChecked[0]).toMatch(
      /^The 401\/403 share: 1 request\(s\) in [12] s: too few to judge a share \(fewer than 20\)\.$/,
    );

    const causes = (r: typeof ok) => r!.findings.causes.map((c) => c.cause);
    expect(causes(expired)).toEqual(['tls-expired']);
    expect(expired!.findings.causes[0]!.detail).toMatch(/^The certificate \(CN=expired\) expired on 20\d\d-/);
    expect(expired!.findings.before.badCredentials.error).toMatchObject({ kind: 'tls', code: 'CERT_HAS_EXPIRED' });
    expect(expired!.findings.outcome).toBe('findings-only');

    expect(causes(wrongHost)).toEqual(['tls-hostname']);
    expect(wrongHost!.findings.causes[0]!.detail).toContain('The certificate does not name 127.0.0.1');
    expect(wrongHost!.findings.causes[0]!.detail).toContain('DNS:pos.other.example');

    expect(causes(unknown)).toEqual(['tls-untrusted']);
    expect(unknown!.findings.causes[0]!.detail).toContain('issued by CN=Unknown CA');
    expect(unknown!.summary).toContain(
      'Nothing was changed: the target declares no remediation for these findings (remediations.<name>.fixes).',
    );
  });
});
