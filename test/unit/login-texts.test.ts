import { describe, expect, it } from 'vitest';
import type { LoginCause } from '../../src/util/login-causes.js';
import {
  foundLines,
  remediatePrompt,
  remediationPlan,
  verifiedSummary,
} from '../../src/runbooks/login-errors/texts.js';

const cors = { cause: 'cors' as LoginCause, detail: 'No Access-Control-Allow-Origin for https://app.' };
const auth = { cause: 'auth-failures' as LoginCause, detail: '31% of requests got 401/403.' };
const lines = foundLines([cors, auth], { detail: '31% of 200', source: 'access log' } as never, [
  'the cookie: no probe',
]);

describe("login-errors' texts", () => {
  it('plans each remediation with the service it restarts, and names the causes left for a person', () => {
    const plan = remediationPlan([
      { name: 'fix-cors', fixes: [cors.cause], restart: 'nginx' },
      { name: 'reload', fixes: [auth.cause] },
    ]);
    expect(plan).toEqual(['fix-cors (for cors; then restart nginx)', 'reload (for auth-failures)']);
    expect(remediatePrompt('prod', lines, plan, [])).toBe(
      `Logins on prod fail. Cause: cors: ${cors.detail} Cause: auth-failures: ${auth.detail} Plan: fix-cors (for cors; then restart nginx); reload (for auth-failures); then check the login again.`,
    );
    expect(remediatePrompt('prod', lines, plan, ['No remediation is declared for x.'])).toMatch(
      /then check the login again\. No remediation is declared for x\.$/,
    );
  });

  it('after the remediations, says what is fixed, what only the window measured, and what is left by hand', () => {
    const offered = [{ name: 'fix-cors', fixes: [cors.cause, auth.cause] }];
    const covered = new Set([cors.cause, auth.cause]);
    const found = new Set([cors.cause, auth.cause]);
    const base = { offered, covered, found, window: '5m' };
    const fixed = verifiedSummary({ ...base, left: [], unverified: [auth], remaining: [] }, lines);
    expect(fixed.slice(0, 3)).toEqual([
      'Fixed: cors no longer found after fix-cors.',
      'Not verified: auth-failures was measured over the window only; run login-errors again after 5m to see whether it is gone.',
      'The 401/403 share was not measured again: run login-errors again after 5m to see it.',
    ]);
    const notFixed = verifiedSummary({ ...base, left: [cors], unverified: [], remaining: [cors, auth] }, lines);
    expect(notFixed.slice(0, 2)).toEqual([
      `Not fixed: still found after fix-cors: ${cors.detail}`,
      `Still to fix by hand: auth-failures: ${auth.detail}`,
    ]);
    expect(notFixed.slice(-2)).toEqual(['401/403: 31% of 200 (access log).', 'Not checked: the cookie: no probe']);
  });
});
