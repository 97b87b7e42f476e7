import type { AuthShare } from '../../activities/index.js';
import type { LoginCause } from '../../util/login-causes.js';
import type { LoginFinding, LoginFindings } from './workflow.js';

/** login-errors' texts: the findings in words, what its gate asks, and its summaries. */

type Offered = LoginFindings['offered'][number];

/** What was found, in the words every summary and the gate repeat. */
export interface FoundLines {
  causes: string[];
  share: string;
  unchecked: string[];
}

export function foundLines(causes: LoginFinding[], authFailures: AuthShare, notChecked: string[]): FoundLines {
  return {
    causes: causes.map((c) => `Cause: ${c.cause}: ${c.detail}`),
    share: `401/403: ${authFailures.detail} (${authFailures.source}).`,
    unchecked: notChecked.map((n) => `Not checked: ${n}`),
  };
}

export function healthySummary(url: string, l: FoundLines): string[] {
  return [`Logging in at ${url} works as browsers need it: nothing to do.`, l.share, ...l.unchecked];
}

export function findingsOnlySummary(l: FoundLines): string[] {
  return [
    ...l.causes,
    l.share,
    'Nothing was changed: the target declares no remediation for these findings (remediations.<name>.fixes).',
    ...l.unchecked,
  ];
}

/** Each remediation offered, with the causes it fixes and the service it restarts. */
export function remediationPlan(offered: Offered[]): string[] {
  return offered.map((r) => `${r.name} (for ${r.fixes.join(', ')}${r.restart ? `; then restart ${r.restart}` : ''})`);
}

/** The causes no declared remediation fixes: for a person. */
export function forPerson(uncovered: LoginFinding[]): string[] {
  return uncovered.map((c) => `No remediation is declared for ${c.cause}: a person must fix it.`);
}

export function dryRunSummary(l: FoundLines, plan: string[], person: string[]): string[] {
  return [
    'Dry run: nothing was changed.',
    ...l.causes,
    l.share,
    `Would run: ${plan.join('; ')}; then check the login again.`,
    ...person,
    ...l.unchecked,
  ];
}

export function remediatePrompt(target: string, l: FoundLines, plan: string[], person: string[]): string {
  return `Logins on ${target} fail. ${l.causes.join(' ')} Plan: ${plan.join('; ')}; then check the login again.${person.length ? ` ${person.join(' ')}` : ''}`;
}

export interface VerifiedFacts {
  offered: Offered[];
  covered: Set<LoginCause>;
  found: Set<LoginCause>;
  /** Covered causes still found after the remediations. */
  left: LoginFinding[];
  /** Covered causes only the window measured, which the verify cannot see again. */
  unverified: LoginFinding[];
  remaining: LoginFinding[];
  window: string;
}

/** The summary after the remediations: fixed or not, what could not be verified, what is left for a person. */
export function verifiedSummary(f: VerifiedFacts, l: FoundLines): string[] {
  const names = f.offered.map((r) => r.name).join(', ');
  const gone = [...f.covered].filter((c) => !f.unverified.some((u) => u.cause === c)).join(', ');
  return [
    f.left.length === 0
      ? `Fixed: ${gone || 'nothing the checks can see again'} no longer found after ${names}.`
      : `Not fixed: still found after ${names}: ${f.left.map((c) => c.detail).join(' ')}`,
    ...f.unverified.map(
      (c) =>
        `Not verified: ${c.cause} was measured over the window only; run login-errors again after ${f.window} to see whether it is gone.`,
    ),
    ...f.remaining.filter((c) => !f.left.includes(c)).map((c) => `Still to fix by hand: ${c.cause}: ${c.detail}`),
    ...(f.covered.has('auth-failures') || f.found.has('auth-failures')
      ? [`The 401/403 share was not measured again: run login-errors again after ${f.window} to see it.`]
      : []),
    ...l.causes,
    l.share,
    ...l.unchecked,
  ];
}
