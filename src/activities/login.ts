import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createRequire } from 'node:module';
import { ownEntry, requestsFamily, type TargetRegistry, type TargetSpec } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { parseExposition } from '../util/prometheus.js';
import { redact, trimOutput } from '../util/redact.js';
import { endpointOf } from './app.js';
import { FailureType, targetFailure, targetSpec } from './errors.js';
import { httpRequest, tlsInspect, type HttpAnswer, type TlsEvidence } from './http.js';
import { logOffset, logSince, runTargetCommand } from './services.js';

/**
 * Seed 003 "Login 5xx o cookies", as a browser meets it: the login endpoint's answer, the CORS
 * preflight from each front-end origin, the session cookie's attributes as browsers judge them
 * (tough-cookie: Domain against the host, Secure, SameSite, HttpOnly), the certificate, the rate
 * limiter's switch and its log lines, the 401/403 share. Nothing here changes anything but the
 * named remediation commands, run only after the gate.
 */

export interface CookieCheck {
  name: string;
  domain: string | null;
  path: string | null;
  secure: boolean;
  httpOnly: boolean;
  sameSite: string | null;
  /** Would a browser store it from this login URL? */
  accepted: boolean;
  rejectedBecause: string | null;
}

export interface PreflightCheck {
  origin: string;
  status: number | null;
  allowOrigin: string | null;
  allowCredentials: boolean;
  allowMethods: string | null;
  ok: boolean;
  detail: string;
}

export interface LoginProbe {
  kind: 'bad-credentials' | 'good-login';
  status: number | null;
  ms: number;
  requestId: string;
  error?: HttpAnswer['error'];
  retryAfter: string | null;
  /** The body's first line (5xx and 429 say why), redacted. */
  body: string;
  /** Log lines written while it ran (errors of a 5xx), when the app's log is a file. */
  logLines: string[];
}

export interface RateLimitEvidence {
  variable: string;
  /** Its value in the declared env file; null when none is declared or it is not there. */
  value: string | null;
  envFile: string | null;
  /** Lines matching the limiter's pattern in the last MiB of the app's log, and the newest. */
  lines: number | null;
  lastLine: string | null;
  logFile: string | null;
}

export interface LoginEvidence {
  url: string;
  https: boolean;
  badCredentials: LoginProbe;
  goodLogin: (LoginProbe & { cookies: CookieCheck[] }) | null;
  cors: PreflightCheck[];
  tls: TlsEvidence | null;
  rateLimit: RateLimitEvidence;
  cookieDomain: string | null;
  crossSiteOrigins: string[];
}

export interface AuthSample {
  at: number;
  source: string;
  total: number | null;
  denied: number | null;
  limited: number | null;
  error: string | null;
}

export interface AuthShare {
  source: string;
  /** The window measured (seconds). */
  seconds: number;
  requests: number | null;
  denied: number | null;
  /** 429 answers in the window (the rate limiter refusing). */
  limited: number | null;
  share: number | null;
  /** Over this share, 401/403 are a finding (login.authFailures.threshold). */
  threshold: number;
  detail: string;
}

/** The site (registrable domain) of a host; an IP or a single label is its own site. Pure. */
export function siteOf(host: string): string {
  if (isIP(host) || !host.includes('.')) return host;
  return tough().getPublicSuffix(host, { allowSpecialUseDomain: true }) ?? host;
}

// Loaded on first use (a login-errors run), not with every worker.
let toughCookie: typeof import('tough-cookie') | undefined;
const tough = () => (toughCookie ??= createRequire(import.meta.url)('tough-cookie') as typeof import('tough-cookie'));

/** How a browser judges a Set-Cookie from `url`: stored or not, and why. Pure. */
export function checkCookie(header: string, url: string): CookieCheck | null {
  const c = tough().Cookie.parse(header);
  if (!c) return null;
  const base = {
    name: c.key,
    domain: c.domain ?? null,
    path: c.path ?? null,
    secure: c.secure,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite && c.sameSite !== 'unspecified' ? c.sameSite : null,
  };
  let rejectedBecause: string | null = null;
  try {
    // Special-use names (.example, .test, .local) as browsers take them: like any other domain.
    new (tough().CookieJar)(undefined, { allowSpecialUseDomain: true }).setCookieSync(header, url);
  } catch (err) {
    rejectedBecause = (err as Error).message;
  }
  // Browsers (Chrome 80+, Firefox, Safari) drop SameSite=None without Secure; tough-cookie keeps it.
  if (!rejectedBecause && base.sameSite === 'none' && !c.secure)
    rejectedBecause = 'SameSite=None without Secure: browsers refuse it';
  return { ...base, accepted: rejectedBecause === null, rejectedBecause };
}

/** Whether a preflight answer lets `origin` POST with credentials (cookies). Pure. */
export function checkPreflight(origin: string, a: HttpAnswer): PreflightCheck {
  const allowOrigin = a.headers['access-control-allow-origin'] ?? null;
  const allowCredentials = a.headers['access-control-allow-credentials'] === 'true';
  const allowMethods = a.headers['access-control-allow-methods'] ?? null;
  const base = { origin, status: a.status, allowOrigin, allowCredentials, allowMethods };
  if (a.error) return { ...base, ok: false, detail: `the preflight failed (${a.error.kind}: ${a.error.detail})` };
  const problems: string[] = [];
  if (a.status === null || a.status < 200 || a.status >= 300)
    problems.push(`it answers ${a.status}${a.body ? ` (${a.body.split('\n')[0]!.slice(0, 120)})` : ''}`);
  if (allowOrigin !== origin)
    problems.push(
      allowOrigin === '*'
        ? 'Access-Control-Allow-Origin is *, which browsers refuse with credentials'
        : `Access-Control-Allow-Origin is ${allowOrigin ?? 'absent'}, not ${origin}`,
    );
  if (!allowCredentials) problems.push('Access-Control-Allow-Credentials is not true (the session cookie is not kept)');
  if (
    allowMethods &&
    allowMethods !== '*' &&
    !allowMethods
      .split(',')
      .map((m) => m.trim().toUpperCase())
      .includes('POST')
  )
    problems.push(`POST is not among the allowed methods (${allowMethods})`);
  return {
    ...base,
    ok: problems.length === 0,
    detail: problems.length ? problems.join('; ') : 'allowed, with credentials',
  };
}

/** A variable's value in an env file (KEY=VALUE lines, `export` and quotes allowed); null when absent. Pure. */
export function envFileValue(text: string, variable: string): string | null {
  let value: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && m[1] === variable) value = m[2]!.replace(/^'(.*)'$|^"(.*)"$/, '$1$2');
  }
  return value;
}

/** Requests and 401/403 in a counter of requests by status (label status or code). Pure. */
export function countByStatus(
  exposition: string,
  family: string,
): { total: number; denied: number; limited: number } | null {
  const f = parseExposition(exposition).get(family);
  if (!f) return null; // declared without samples: no request yet, zeros

  let total = 0;
  let denied = 0;
  let limited = 0;
  for (const s of f.samples) {
    if (s.name.endsWith('_created')) continue;
    total += s.value;
    const status = s.labels.status ?? s.labels.code;
    if (status === '401' || status === '403') denied += s.value;
    if (status === '429') limited += s.value;
  }
  return { total, denied, limited };
}

/** The share between two samples; a counter that went down means the app restarted in between. Pure. */
export function shareBetween(a: AuthSample, b: AuthSample, o: { minRequests: number; threshold: number }): AuthShare {
  const seconds = Math.round((b.at - a.at) / 1000);
  const base = { source: b.source, seconds, threshold: o.threshold };
  const none = { requests: null, denied: null, limited: null, share: null };
  if (a.total === null || b.total === null || a.denied === null || b.denied === null) {
    return { ...base, ...none, detail: `not measured: ${a.error ?? b.error ?? 'no counter of requests by status'}` };
  }
  const requests = b.total - a.total;
  const denied = b.denied - a.denied;
  const limited = (b.limited ?? 0) - (a.limited ?? 0);
  if (requests < 0 || denied < 0 || limited < 0)
    return { ...base, ...none, detail: 'not measured: the counters went down (the app restarted during the window)' };
  if (requests < o.minRequests)
    return {
      ...base,
      requests,
      denied,
      limited,
      share: null,
      detail: `${requests} request(s) in ${seconds} s: too few to judge a share (fewer than ${o.minRequests})`,
    };
  return {
    ...base,
    requests,
    denied,
    limited,
    share: denied / requests,
    detail: `${denied} of ${requests} requests were 401/403 in ${seconds} s (${((denied / requests) * 100).toFixed(1)}%; threshold ${(o.threshold * 100).toFixed(1)}%)`,
  };
}

/** The single value of a Prometheus instant query's answer. Pure. */
export function promValue(body: unknown): number | null {
  const b = body as { status?: string; data?: { resultType?: string; result?: unknown } };
  if (b?.status !== 'success' || !b.data) return null;
  const r = b.data.result;
  if (b.data.resultType === 'scalar' && Array.isArray(r)) return Number(r[1]);
  if (b.data.resultType === 'vector' && Array.isArray(r) && r.length > 0)
    return Number((r[0] as { value: [number, string] }).value[1]);
  return null;
}

const LOG_TAIL = 1 << 20;

export function createLoginActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  function loginOf(target: string) {
    const spec: TargetSpec = targetSpec(targets, target);
    if (!spec.login || !spec.app)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no login section in ${targets.file}: add login (path, origins, cookieDomain) under a target with app.url.`,
        FailureType.targetConfig,
      );
    const logFile =
      spec.app.logFile ??
      (spec.app.service ? ownEntry(spec.services, spec.app.service)?.health?.logFile : undefined) ??
      null;
    return { spec, login: spec.login, app: spec.app, url: new URL(spec.login.path, spec.app.url).toString(), logFile };
  }

  async function caOf(file: string | undefined): Promise<string | undefined> {
    if (!file) return undefined;
    return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw ApplicationFailure.nonRetryable(
        `The CA file ${file} named by login.tls.ca cannot be read (${err.code ?? err.message}): fix the targets file.`,
        FailureType.targetConfig,
      );
    });
  }

  async function probeLogin(
    t: ReturnType<typeof loginOf>,
    kind: LoginProbe['kind'],
    username: string,
    password: string,
    ca: string | undefined,
    secrets: string[],
  ) {
    const requestId = `rb-${randomUUID()}`;
    const mark = t.logFile ? await logOffset(t.logFile) : 0;
    const a = await httpRequest(t.url, {
      method: 'POST',
      ca,
      timeoutMs: parseDuration(t.app.timeout),
      headers: { 'content-type': 'application/json', accept: 'application/json', [t.app.requestIdHeader]: requestId },
      body: JSON.stringify({ [t.login.usernameField]: username, [t.login.passwordField]: password }),
    });
    const lines =
      t.logFile && (a.status === null || a.status >= 500)
        ? (await logSince(t.logFile, mark))
            .split('\n')
            .filter(Boolean)
            .slice(-10)
            .map((l) => redact(l, secrets).slice(0, 400))
        : [];
    const probe: LoginProbe = {
      kind,
      status: a.status,
      ms: a.ms,
      requestId,
      error: a.error,
      retryAfter: a.headers['retry-after'] ?? null,
      body: trimOutput(redact(a.body, secrets), 1, 200),
      logLines: lines,
    };
    return { probe, answer: a };
  }

  async function rateLimitOf(t: ReturnType<typeof loginOf>): Promise<RateLimitEvidence> {
    const { envFile, variable, logPattern } = t.login.rateLimit;
    let value: string | null = null;
    if (envFile)
      value = await readFile(envFile, 'utf8').then(
        (text) => envFileValue(text, variable),
        () => null,
      );
    let lines: number | null = null;
    let lastLine: string | null = null;
    if (t.logFile) {
      const size = await logOffset(t.logFile);
      const matching = (await logSince(t.logFile, Math.max(0, size - LOG_TAIL)))
        .split('\n')
        .filter((l) => l.includes(logPattern));
      lines = matching.length;
      lastLine = matching.length ? redact(matching[matching.length - 1]!).slice(0, 400) : null;
    }
    return { variable, value, envFile: envFile ?? null, lines, lastLine, logFile: t.logFile };
  }

  return {
    /**
     * One sample of the app's counter of requests by status. Given the window's first sample, the
     * 401/403 share between the two (the workflow sleeps the window in between, durably).
     */
    async loginAuthSample(target: string, first?: AuthSample): Promise<{ sample: AuthSample; share?: AuthShare }> {
      const t = loginOf(target);
      const url = new URL(t.app.metrics, t.app.url).toString();
      const a = await httpRequest(url, { timeoutMs: parseDuration(t.app.timeout), ca: await caOf(t.login.tls.ca) });
      const at = Date.now();
      const family = requestsFamily(t.spec);
      const c = a.status === 200 ? countByStatus(a.body, family) : null;
      const error =
        a.error || a.status !== 200
          ? `${url} ${a.error ? `failed (${a.error.kind})` : `answered ${a.status}`}`
          : c
            ? null
            : `${url} has no ${family} with a status label`;
      const sample = {
        at,
        source: url,
        total: c?.total ?? null,
        denied: c?.denied ?? null,
        limited: c?.limited ?? null,
        error,
      };
      return { sample, share: first ? shareBetween(first, sample, t.login.authFailures) : undefined };
    },

    /** The 401/403 share from the target's Prometheus query (a ratio over its own window). */
    async loginAuthPrometheus(target: string): Promise<AuthShare> {
      const t = loginOf(target);
      const p = t.login.authFailures.prometheus;
      if (!p)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" names no login.authFailures.prometheus.`,
          FailureType.targetConfig,
        );
      const url = new URL('/api/v1/query', p.url);
      url.searchParams.set('query', p.query);
      const a = await httpRequest(url.toString(), { timeoutMs: parseDuration(t.app.timeout) });
      const base = {
        source: `${p.url} (${p.query})`,
        seconds: 0,
        requests: null,
        denied: null,
        limited: null,
        threshold: t.login.authFailures.threshold,
      };
      if (a.error || a.status !== 200)
        return {
          ...base,
          share: null,
          detail: `not measured: Prometheus ${a.error ? `failed (${a.error.kind}: ${a.error.detail})` : `answered ${a.status}`}`,
        };
      let value: number | null = null;
      try {
        value = promValue(JSON.parse(a.body));
      } catch {
        /* not JSON */
      }
      if (value === null || !Number.isFinite(value))
        return {
          ...base,
          share: null,
          detail: 'not measured: the query returned no single number (it should answer the 401/403 share, 0 to 1)',
        };
      return {
        ...base,
        share: value,
        detail: `Prometheus answers ${(value * 100).toFixed(1)}% (the query's own window)`,
      };
    },

    /** Everything a browser meets at the login, and the rate limiter. Read-only apart from two logins. */
    async loginInspect(target: string): Promise<LoginEvidence> {
      const t = loginOf(target);
      const ca = await caOf(t.login.tls.ca);
      let password: string | undefined;
      try {
        password = targets.loginProbePassword(target);
      } catch (err) {
        targetFailure(err);
      }
      const secrets = password ? [password] : [];
      const bad = await probeLogin(
        t,
        'bad-credentials',
        'durable-runbooks-probe',
        `wrong-${randomUUID()}`,
        ca,
        secrets,
      );
      let goodLogin: LoginEvidence['goodLogin'] = null;
      if (t.login.probe && password !== undefined) {
        const good = await probeLogin(t, 'good-login', t.login.probe.username, password, ca, secrets);
        const cookies = good.answer.setCookie
          .map((h) => checkCookie(h, t.url))
          .filter((c): c is CookieCheck => c !== null && (!t.login.sessionCookie || c.name === t.login.sessionCookie));
        goodLogin = { ...good.probe, cookies };
      }
      const cors: PreflightCheck[] = [];
      for (const origin of t.login.origins) {
        const a = await httpRequest(t.url, {
          method: 'OPTIONS',
          ca,
          timeoutMs: parseDuration(t.app.timeout),
          headers: {
            origin: new URL(origin).origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type',
          },
        });
        cors.push(checkPreflight(new URL(origin).origin, a));
      }
      const https = t.url.startsWith('https:');
      const { host, port } = endpointOf(t.url);
      const tls = https ? await tlsInspect(host, port, { ca, timeoutMs: parseDuration(t.app.timeout) }) : null;
      const loginSite = siteOf(host);
      return {
        url: t.url,
        https,
        badCredentials: bad.probe,
        goodLogin,
        cors,
        tls,
        rateLimit: await rateLimitOf(t),
        cookieDomain: t.login.cookieDomain ?? null,
        crossSiteOrigins: t.login.origins.filter((o) => siteOf(new URL(o).hostname) !== loginSite),
      };
    },

    /** Runs a named remediation's command on the target's host (bounded; its text stays in the targets file). */
    async runRemediation(
      target: string,
      name: string,
    ): Promise<{ name: string; exitCode: number | null; ms: number; output: string }> {
      const r = ownEntry(targetSpec(targets, target).remediations, name);
      if (!r)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" declares no remediation "${name}" in ${targets.file}.`,
          FailureType.targetConfig,
        );
      const run = await runTargetCommand(targets, target, r.command, r.timeout, env);
      const output = run.output;
      if (run.timedOut || run.exitCode !== 0) {
        throw ApplicationFailure.nonRetryable(
          `Remediation "${name}" of target "${target}" ${run.timedOut ? `did not finish within ${r.timeout} and was killed` : `exited with ${run.exitCode}`}. Check what it changed by hand (its output below) before retrying or skipping it.${output ? `\nOutput:\n${output}` : ''}`,
          'RemediationFailed',
        );
      }
      return { name, exitCode: run.exitCode, ms: run.ms, output };
    },
  };
}
