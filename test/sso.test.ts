import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { importJWK, SignJWT } from 'jose';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcSignIn } from '../src/api/oidc.js';
import { apiWithDevTokens } from './support/api.js';
import { finished, startRig, writeTargets, type TestRig } from './support/harness.js';
import { startOidcProvider } from './support/oidc.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';

// People sign in with single sign-on: a real OpenID provider in-process (oidc-provider), the
// console's code flow with PKCE in Chromium, the API checking the provider's JWT access tokens
// against its JWKS, and groups mapped to roles. The person in history and four-eyes is the email.
describe('single sign-on (OpenID Connect)', () => {
  let rig: TestRig;
  let idp: Awaited<ReturnType<typeof startOidcProvider>>;
  let api: FastifyInstance;
  let browser: Browser;
  let base: string;
  const audience = 'https://runbooks.test/api';

  beforeAll(async () => {
    rig = await startRig(writeTargets({ 'sso-drill': {} }), { signingKey: randomBytes(32).toString('hex') });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const clientSecret = randomBytes(16).toString('hex');
    registerSecrets('OIDC client secret', clientSecret);
    idp = await startOidcProvider({
      redirectUri: `${base}/auth/callback`,
      audience,
      clientId: 'runbooks-console',
      clientSecret,
      users: {
        ana: { email: 'ana@example.test', groups: ['sre'] },
        olga: { email: 'olga@example.test', groups: ['auditors'] },
      },
    });
    const signIn = await OidcSignIn.discover({
      issuer: idp.issuer,
      clientId: 'runbooks-console',
      clientSecret,
      audience,
      rolesClaim: 'groups',
      nameClaim: 'email',
      roleMap: { sre: ['operator', 'approver'], auditors: ['viewer'] },
      redirectUri: `${base}/auth/callback`,
    });
    ({ api } = await apiWithDevTokens(rig.signed, { sso: { signIn, provider: 'Test IdP' } }));
    await api.listen({ host: '127.0.0.1', port });
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
    await api?.close();
    await idp?.close();
    await rig?.stop();
  });

  it('a link to a run, opened signed out, signs in with the provider and lands on that run; the approval is recorded under the email', async () => {
    const { id } = await rig.signed.start('approval-drill', { target: 'sso-drill', initiator: 'alice' });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/console/#/run/${encodeURIComponent(id)}`);
    await page.getByRole('button', { name: 'Sign in with Test IdP' }).click();
    // The provider's own pages: login, then consent.
    await page.locator('input[name=login]').fill('ana');
    await page.locator('input[name=password]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('ana@example.test (operator, approver)').waitFor();
    await page.getByRole('heading', { name: 'Waiting for approval: proceed' }).waitFor();
    expect(page.url()).toBe(`${base}/console/#/run/${encodeURIComponent(id)}`); // the one-time sign-in id is gone
    await page.getByRole('button', { name: 'Approve proceed' }).click();
    await page.getByText('Approved.').waitFor();
    const run = await finished(rig.signed, id);
    expect(run.status).toBe('completed');
    expect(run.journal!.find((e) => e.kind === 'decision')).toMatchObject({
      actor: 'ana@example.test',
      channel: { via: 'update', signed: true },
    });
  });

  it('a sign-in finishes only in the browser that began it: a hand-off link sent to someone else signs nobody in', async () => {
    const attacker = await (await browser.newContext()).newPage();
    await attacker.route('**/auth/handoff', (r) => r.abort()); // the attacker keeps the link instead of redeeming it
    const callback = attacker.waitForResponse((r) => r.url().includes('/auth/callback'));
    await attacker.goto(`${base}/console/`);
    await attacker.getByRole('button', { name: 'Sign in with Test IdP' }).click();
    await attacker.locator('input[name=login]').fill('olga');
    await attacker.locator('input[name=password]').fill('any password');
    await attacker.getByRole('button', { name: 'Sign-in' }).click();
    await attacker.getByRole('button', { name: 'Continue' }).click();
    const link = (await callback).headers().location!;
    expect(link).toMatch(/^\/console\/#\/sso\/[\w-]+$/);

    const victim = await (await browser.newContext()).newPage();
    await victim.goto(`${base}${link}`);
    await victim.getByRole('alert').filter({ hasText: 'was begun in another browser' }).waitFor();
    expect(await victim.evaluate(() => sessionStorage.getItem('durable-runbooks.token'))).toBeNull();
  });

  it('refuses an expired token, one from a foreign issuer or for another audience, and gives a viewer group no approval', async () => {
    const key = await importJWK(idp.privateJwk, 'RS256');
    const token = (claims: { iss?: string; aud?: string; exp?: number }) =>
      new SignJWT({ email: 'ana@example.test', groups: ['sre'] })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
        .setSubject('ana')
        .setIssuedAt()
        .setIssuer(claims.iss ?? idp.issuer)
        .setAudience(claims.aud ?? audience)
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(key);
    const me = async (t: string) =>
      api.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${t}` } });
    expect((await me(await token({}))).json()).toEqual({ name: 'ana@example.test', roles: ['operator', 'approver'] });
    for (const bad of [
      { exp: Math.floor(Date.now() / 1000) - 60 },
      { iss: 'http://127.0.0.1:1' },
      { aud: 'https://other.test' },
    ]) {
      const r = await me(await token(bad));
      expect(r.statusCode).toBe(401);
      expect(r.json<{ error: string }>().error).toContain('Unknown bearer token');
    }
    // A token signed by another key, claiming to be the provider's.
    const forged = await new SignJWT({ email: 'ana@example.test', groups: ['sre'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(idp.issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(randomBytes(32));
    expect((await me(forged)).statusCode).toBe(401);

    const viewerToken = await new SignJWT({ email: 'olga@example.test', groups: ['auditors'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject('olga')
      .setIssuer(idp.issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(key);
    const decided = await api.inject({
      method: 'POST',
      url: '/runs/any/gates/proceed',
      headers: { authorization: `Bearer ${viewerToken}` },
      payload: { decision: 'approve' },
    });
    expect(decided.statusCode).toBe(403);
    expect(decided.json<{ error: string }>().error).toBe(
      'olga@example.test lacks the "approver" role needed to decide gates (has: viewer).',
    );
  });
});
