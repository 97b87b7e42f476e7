import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type { AuthShare, LoginEvidence, ServiceEvidence, TargetInfo } from '../../activities/index.js';
import type { LoginCause } from '../../util/login-causes.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { LoginInput } from './definition.js';
import {
  dryRunSummary,
  findingsOnlySummary,
  forPerson,
  foundLines,
  healthySummary,
  remediatePrompt,
  remediationPlan,
  verifiedSummary,
} from './texts.js';

/**
 * Seed 003 "Login 5xx o cookies". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface LoginFinding {
  cause: LoginCause;
  detail: string;
}

export interface LoginFindings {
  outcome: 'healthy' | 'fixed' | 'unverified' | 'not-fixed' | 'findings-only' | 'dry-run';
  authFailures: AuthShare;
  before: LoginEvidence;
  causes: LoginFinding[];
  /** What could not be checked on this target, and why. */
  notChecked: string[];
  /** The remediations offered at the gate (named in the targets file), and what each addresses. */
  offered: Array<{ name: string; fixes: LoginCause[]; restart?: string }>;
  ran?: Array<{ name: string; exitCode: number | null; ms: number; output: string }>;
  restarted?: ServiceEvidence[];
  after?: LoginEvidence;
  /** Causes left after the remediations (or with no remediation): for a person. */
  remaining: LoginFinding[];
}

const fiveXx = (s: number | null) => s !== null && s >= 500;

/** What is wrong with logging in, from the evidence. Pure. */
export function diagnoseLogin(e: LoginEvidence, share: AuthShare | null, minDaysLeft: number): LoginFinding[] {
  const out: LoginFinding[] = [];
  const add = (cause: LoginCause, detail: string) => out.push({ cause, detail });
  const probes = [e.badCredentials, ...(e.goodLogin ? [e.goodLogin] : [])];
  const netError = probes.find((p) => p.error && p.error.kind !== 'tls')?.error;
  if (netError)
    add(
      'unreachable',
      `${e.url} does not answer (${netError.kind}: ${netError.detail}): run connection-refused for this target.`,
    );
  for (const p of probes.filter((x) => fiveXx(x.status))) {
    add(
      'login-5xx',
      `A ${p.kind} login answers ${p.status}${p.body ? ` (${p.body})` : ''}${p.logLines.length ? `; the app logged:\n${p.logLines.join('\n')}` : ''}.`,
    );
  }
  const limitedProbe = probes.find((p) => p.status === 429);
  const limiter = `${e.rateLimit.variable}=${e.rateLimit.value ?? '(not read)'}${e.rateLimit.lines ? `; ${e.rateLimit.lines} ${e.rateLimit.lastLine ? `limiter line(s) in the log, the newest: ${e.rateLimit.lastLine}` : 'limiter line(s)'}` : ''}`;
  if (limitedProbe)
    add(
      'rate-limited',
      `The rate limiter refuses logins: ${limitedProbe.kind} login answered 429${limitedProbe.retryAfter ? ` (Retry-After ${limitedProbe.retryAfter})` : ''}; ${limiter}.`,
    );
  else if (share?.limited)
    add('rate-limited', `${share.limited} request(s) answered 429 in the last ${share.seconds} s; ${limiter}.`);
  const g = e.goodLogin;
  if (g && g.status !== null && g.status >= 200 && g.status < 400) {
    if (g.cookies.length === 0) add('no-cookie', `A good login answers ${g.status} but sets no session cookie.`);
    const want = e.cookieDomain?.replace(/^\./, '').toLowerCase() ?? null;
    for (const c of g.cookies) {
      if (!c.accepted)
        add(
          'cookie-rejected',
          `Browsers drop cookie ${c.name} (Domain=${c.domain ?? 'host-only'}, Secure=${c.secure}, SameSite=${c.sameSite ?? 'unset'}): ${c.rejectedBecause}.`,
        );
      if ((c.domain?.toLowerCase() ?? null) !== want)
        add(
          'cookie-domain',
          `Cookie ${c.name} has Domain=${c.domain ?? '(none: host-only)'}, but COOKIE_DOMAIN should be ${e.cookieDomain ?? '(unset: host-only)'}.`,
        );
      if (e.crossSiteOrigins.length && c.sameSite !== 'none')
        add(
          'cookie-samesite',
          `The front-end (${e.crossSiteOrigins.join(', ')}) is on another site, and cookie ${c.name} is SameSite=${c.sameSite ?? 'unset (Lax)'}: browsers do not send it with its requests. It needs SameSite=None; Secure.`,
        );
      const weak = [...(e.https && !c.secure ? ['Secure'] : []), ...(!c.httpOnly ? ['HttpOnly'] : [])];
      if (weak.length) add('cookie-insecure', `Cookie ${c.name} lacks ${weak.join(' and ')}.`);
    }
  }
  // A preflight that got no answer is the endpoint's problem (unreachable or TLS above), not CORS.
  for (const p of e.cors.filter((x) => !x.ok && x.status !== null))
    add('cors', `The preflight from ${p.origin} is refused: ${p.detail}.`);
  const t = e.tls;
  if (t?.error)
    add(
      t.error.kind === 'tls' ? 'tls-untrusted' : 'unreachable',
      `TLS handshake with ${t.host}:${t.port} failed (${t.error.code}: ${t.error.detail}).`,
    );
  else if (t) {
    if (t.daysLeft !== null && t.daysLeft < 0)
      add('tls-expired', `The certificate (${t.subject}) expired on ${t.validTo}: browsers refuse the site.`);
    else if (t.daysLeft !== null && t.daysLeft < minDaysLeft)
      add('tls-expiring', `The certificate (${t.subject}) expires in ${t.daysLeft} day(s), on ${t.validTo}.`);
    if (!t.hostnameOk)
      add(
        'tls-hostname',
        `The certificate does not name ${t.host}: ${t.hostnameError} (it names ${t.altNames ?? t.subject}).`,
      );
    if (!t.trusted && t.verifyError !== 'CERT_HAS_EXPIRED')
      add(
        'tls-untrusted',
        `The chain does not verify (${t.verifyError}): issued by ${t.issuer}; chain sent: ${t.chain.join(' ← ')}.`,
      );
  }
  if (share?.share != null && share.share > share.threshold)
    add('auth-failures', `${share.detail}: over the alert threshold.`);
  return out;
}

/** What this target cannot tell, and why. Pure. */
export function loginNotChecked(login: NonNullable<TargetInfo['login']>, e: LoginEvidence, share: AuthShare): string[] {
  return [
    ...(login.origins.length ? [] : ['CORS: the target declares no login.origins (the front-end origins).']),
    ...(login.goodLogin
      ? []
      : ['The session cookie: the target declares no login.probe (a test account whose good login sets it).']),
    ...(e.goodLogin?.error
      ? [`The session cookie: the probe account's login failed (${e.goodLogin.error.kind}: ${e.goodLogin.error.code}).`]
      : []),
    ...(e.goodLogin && e.goodLogin.status !== null && e.goodLogin.status >= 400 && !fiveXx(e.goodLogin.status)
      ? [
          `The session cookie: the probe account's login answered ${e.goodLogin.status} (check its password on the worker, and the rate limiter).`,
        ]
      : []),
    ...(e.https ? [] : ['TLS: app.url is http (the certificate is checked where users connect over https).']),
    ...(e.rateLimit.envFile ? [] : [`${e.rateLimit.variable}: no login.rateLimit.envFile declared to read it from.`]),
    ...(e.rateLimit.logFile ? [] : ['Rate limiter log lines: the target declares no app.logFile.']),
    ...(share.share === null ? [`The 401/403 share: ${share.detail}.`] : []),
  ];
}

export async function loginErrors(input: LoginInput): Promise<RunbookResult<LoginFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const login = target.login;
    if (!login)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no login section: add login (path, origins, cookieDomain, probe) to the targets file.`,
        'TargetConfigError',
      );
    const window = input.window ?? login.window;
    let authFailures: AuthShare;
    if (login.prometheus) {
      authFailures = await rb.step('auth-failures', () => act.loginAuthPrometheus(input.target));
    } else {
      const first = await rb.step('auth-window-start', () => act.loginAuthSample(input.target), { inputs: { window } });
      await sleep(window);
      authFailures = (
        await rb.step('auth-window-end', () => act.loginAuthSample(input.target, first.sample), { inputs: { window } })
      ).share!;
    }
    const before = await rb.step('inspect', () => act.loginInspect(input.target), {
      inputs: { url: login.url, origins: login.origins },
    });
    const causes = diagnoseLogin(before, authFailures, login.minDaysLeft);
    const notChecked = loginNotChecked(login, before, authFailures);
    const found = new Set(causes.map((c) => c.cause));
    const offered = target.remediations
      .filter((r) => r.fixes.some((f) => found.has(f as LoginCause)))
      .map((r) => ({
        name: r.name,
        fixes: r.fixes.filter((f) => found.has(f as LoginCause)) as LoginCause[],
        restart: r.restart,
      }));
    const covered = new Set(offered.flatMap((r) => r.fixes));
    const uncovered = causes.filter((c) => !covered.has(c.cause));
    const f = (outcome: LoginFindings['outcome'], more: Partial<LoginFindings> = {}): LoginFindings => ({
      outcome,
      authFailures,
      before,
      causes,
      notChecked,
      offered,
      remaining: uncovered,
      ...more,
    });
    const end = (healthy: boolean, summary: string[], findings: LoginFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings,
    });
    const lines = foundLines(causes, authFailures, notChecked);
    if (causes.length === 0) return end(true, healthySummary(login.url, lines), f('healthy'));
    const person = forPerson(uncovered);
    if (offered.length === 0) return end(false, findingsOnlySummary(lines), f('findings-only'));
    const plan = remediationPlan(offered);
    if (input.dryRun) return end(false, dryRunSummary(lines, plan, person), f('dry-run'));

    await rb.lockTarget();
    const prompt = remediatePrompt(input.target, lines, plan, person);
    await rb.gate('remediate', { prompt, evidence: { causes, authFailures, offered, notChecked } });
    const host = hostActivitiesFor(input, target);
    const ran = [];
    for (const r of offered)
      ran.push(
        await rb.step('run-remediation', () => host.runRemediation(input.target, r.name), {
          inputs: { remediation: r.name, fixes: r.fixes },
        }),
      );
    const restarted = [];
    for (const svc of [...new Set(offered.flatMap((r) => (r.restart ? [r.restart] : [])))]) {
      restarted.push(
        await rb.step('restart', () => host.serviceAction(input.target, svc, 'restart'), { inputs: { service: svc } }),
      );
    }
    const after = await rb.step('verify', () => act.loginInspect(input.target));
    const still = diagnoseLogin(after, null, login.minDaysLeft);
    const left = still.filter((c) => covered.has(c.cause));
    // What only the window measured (the 401/403 share; 429s seen only there) the verify cannot see again.
    const probe429 = before.badCredentials.status === 429 || before.goodLogin?.status === 429;
    const unverified = causes.filter(
      (c) => covered.has(c.cause) && (c.cause === 'auth-failures' || (c.cause === 'rate-limited' && !probe429)),
    );
    const fixed = left.length === 0;
    const remaining = [
      ...left,
      ...still.filter((c) => !covered.has(c.cause)),
      ...(found.has('auth-failures') && !covered.has('auth-failures')
        ? causes.filter((c) => c.cause === 'auth-failures')
        : []),
    ];
    const outcome = !fixed ? 'not-fixed' : unverified.length ? 'unverified' : 'fixed';
    const summary = verifiedSummary({ offered, covered, found, left, unverified, remaining, window }, lines);
    return end(
      outcome === 'fixed' && remaining.length === 0,
      summary,
      f(outcome, { ran, restarted, after, remaining }),
    );
  });
}
