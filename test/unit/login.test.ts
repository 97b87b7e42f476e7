import { describe, expect, it } from 'vitest';
import {
  checkCookie,
  checkPreflight,
  countByStatus,
  envFileValue,
  promValue,
  shareBetween,
  siteOf,
  type AuthSample,
  type LoginEvidence,
} from '../../src/activities/login.js';
import type { HttpAnswer } from '../../src/activities/http.js';
import { diagnoseLogin } from '../../src/runbooks/login-errors/workflow.js';

const answer = (status: number, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  ms: 1,
  headers,
  setCookie: [],
  body: '',
});
const sample = (at: number, total: number | null, denied: number | null, limited = 0): AuthSample => ({
  at,
  source: 'm',
  total,
  denied,
  limited,
  error: total === null ? 'm answered 404' : null,
});

describe('login-errors helpers', () => {
  it('judges Set-Cookie as browsers do: another domain, Secure over plain HTTP, SameSite=None without Secure', () => {
    const other = checkCookie('s=1; Domain=.gestiq.example; Path=/; HttpOnly', 'http://127.0.0.1:8000/login');
    expect(other).toMatchObject({ domain: 'gestiq.example', httpOnly: true, accepted: false });
    expect(other?.rejectedBecause).toContain("Cookie not in this host's domain");
    expect(
      checkCookie('s=1; Domain=gestiq.example; Secure; SameSite=None', 'https://app.gestiq.example/login'),
    ).toMatchObject({ domain: 'gestiq.example', secure: true, sameSite: 'none', accepted: true });
    expect(checkCookie('s=1; Secure', 'http://app.gestiq.example/login')).toMatchObject({
      accepted: false,
      rejectedBecause: 'Cookie is Secure but this is not a secure connection',
    });
    expect(checkCookie('s=1; SameSite=None', 'https://app.gestiq.example/login')).toMatchObject({
      accepted: false,
      rejectedBecause: 'SameSite=None without Secure: browsers refuse it',
    });
    expect(checkCookie('s=1', 'https://app.gestiq.example/login')).toMatchObject({
      sameSite: null,
      httpOnly: false,
      accepted: true,
    });
    expect(checkCookie('', 'https://a.example/')).toBeNull();
  });

  it('tells a preflight that lets the origin in with credentials from the ways it does not', () => {
    const ok = checkPreflight(
      'https://pos.example',
      answer(200, {
        'access-control-allow-origin': 'https://pos.example',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET, POST',
      }),
    );
    expect(ok).toMatchObject({ ok: true, detail: 'allowed, with credentials' });
    expect(checkPreflight('https://pos.example', answer(200, { 'access-control-allow-origin': '*' })).detail).toBe(
      'Access-Control-Allow-Origin is *, which browsers refuse with credentials; Access-Control-Allow-Credentials is not true (the session cookie is not kept)',
    );
    expect(
      checkPreflight(
        'https://pos.example',
        answer(200, {
          'access-control-allow-origin': 'https://pos.example',
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'GET',
        }),
      ).detail,
    ).toBe('POST is not among the allowed methods (GET)');
    expect(
      checkPreflight('https://pos.example', {
        ...answer(0),
        status: null,
        error: { kind: 'refused', code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED' },
      }).detail,
    ).toBe('the preflight failed (refused: connect ECONNREFUSED)');
  });

  it('reads env files, counters by status, Prometheus answers and sites', () => {
    expect(
      envFileValue(
        'A=1\nexport RATE_LIMIT_ENABLED=\'1\'\n# RATE_LIMIT_ENABLED=0\nRATE_LIMIT_ENABLED = "0"\n',
        'RATE_LIMIT_ENABLED',
      ),
    ).toBe('0');
    expect(envFileValue('A=1\n', 'RATE_LIMIT_ENABLED')).toBeNull();
    const text =
      '# TYPE req_total counter\nreq_total{status="200"} 90\nreq_total{status="401"} 6\nreq_total{status="403"} 2\nreq_total{status="429"} 2\nreq_created{status="200"} 1.7e9\n';
    expect(countByStatus(text, 'req_total')).toEqual({ total: 100, denied: 8, limited: 2 });
    expect(countByStatus('x_total{code="401"} 3\n', 'x_total')).toEqual({ total: 3, denied: 3, limited: 0 });
    expect(countByStatus(text, 'other_total')).toBeNull();
    expect(countByStatus('# HELP req_total Requests.\n# TYPE req_total counter\n', 'req_total')).toEqual({
      total: 0,
      denied: 0,
      limited: 0,
    });
    expect(
      promValue({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '0.071'] }] } }),
    ).toBe(0.071);
    expect(promValue({ status: 'success', data: { resultType: 'vector', result: [] } })).toBeNull();
    expect(promValue({ status: 'error' })).toBeNull();
    expect([
      siteOf('app.gestiq.example.com'),
      siteOf('pos.gestiq.example.com'),
      siteOf('127.0.0.1'),
      siteOf('localhost'),
    ]).toEqual(['example.com', 'example.com', '127.0.0.1', 'localhost']);
  });

  it('measures the 401/403 share between two samples, and says why when it cannot', () => {
    const o = { minRequests: 20, threshold: 0.05 };
    expect(shareBetween(sample(0, 100, 2), sample(60_000, 200, 12, 3), o)).toMatchObject({
      seconds: 60,
      requests: 100,
      denied: 10,
      limited: 3,
      share: 0.1,
      detail: '10 of 100 requests were 401/403 in 60 s (10.0%; threshold 5.0%)',
    });
    expect(shareBetween(sample(0, 100, 2), sample(60_000, 105, 3), o)).toMatchObject({
      share: null,
      detail: '5 request(s) in 60 s: too few to judge a share (fewer than 20)',
    });
    expect(shareBetween(sample(0, 100, 2), sample(60_000, 40, 1), o).detail).toBe(
      'not measured: the counters went down (the app restarted during the window)',
    );
    expect(shareBetween(sample(0, null, null), sample(60_000, null, null), o).detail).toBe(
      'not measured: m answered 404',
    );
  });

  it('diagnoses from the evidence: each finding once, TLS failures as findings, not as unreachable', () => {
    const probe = {
      kind: 'bad-credentials' as const,
      status: 401,
      ms: 3,
      requestId: 'r',
      retryAfter: null,
      body: '',
      logLines: [],
    };
    const base: LoginEvidence = {
      url: 'https://app.example.com/login',
      https: true,
      badCredentials: probe,
      goodLogin: null,
      cors: [],
      tls: null,
      rateLimit: { variable: 'RATE_LIMIT_ENABLED', value: '1', envFile: '/e', lines: 0, lastLine: null, logFile: '/l' },
      cookieDomain: null,
      crossSiteOrigins: [],
    };
    expect(diagnoseLogin(base, null, 14)).toEqual([]);
    const tlsError = {
      ...probe,
      status: null,
      error: { kind: 'tls' as const, code: 'CERT_HAS_EXPIRED', detail: 'certificate has expired' },
    };
    const tls = {
      host: 'app.example.com',
      port: 443,
      trusted: false,
      verifyError: 'CERT_HAS_EXPIRED',
      hostnameOk: true,
      hostnameError: null,
      subject: 'CN=app',
      issuer: 'CN=CA',
      altNames: 'DNS:app.example.com',
      validFrom: '2026-01-01T00:00:00.000Z',
      validTo: '2026-11-01T00:00:00.000Z',
      daysLeft: -30,
      chain: ['CN=app'],
    };
    expect(diagnoseLogin({ ...base, badCredentials: tlsError, tls }, null, 14).map((c) => c.cause)).toEqual([
      'tls-expired',
    ]);
    expect(
      diagnoseLogin({ ...base, tls: { ...tls, verifyError: null, trusted: true, daysLeft: 5 } }, null, 14),
    ).toEqual([
      { cause: 'tls-expiring', detail: 'The certificate (CN=app) expires in 5 day(s), on 2026-11-01T00:00:00.000Z.' },
    ]);
    const limited = { ...probe, status: 429, retryAfter: '60' };
    expect(diagnoseLogin({ ...base, badCredentials: limited }, null, 14)[0]!.detail).toBe(
      'The rate limiter refuses logins: bad-credentials login answered 429 (Retry-After 60); RATE_LIMIT_ENABLED=1.',
    );
    const share = {
      source: 'm',
      seconds: 60,
      requests: 100,
      denied: 2,
      limited: 4,
      share: 0.02,
      threshold: 0.05,
      detail: '2 of 100',
    };
    expect(diagnoseLogin(base, share, 14).map((c) => c.cause)).toEqual(['rate-limited']);
    const refused = {
      ...probe,
      status: null,
      error: { kind: 'refused' as const, code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED' },
    };
    expect(
      diagnoseLogin({ ...base, badCredentials: refused }, { ...share, limited: 0, share: 0.2 }, 14).map((c) => c.cause),
    ).toEqual(['unreachable', 'auth-failures']);
  });
});
