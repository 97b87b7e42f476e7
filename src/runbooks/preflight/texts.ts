import type { TargetCheck } from '../../activities/index.js';

/** One line a check (and its fix when it failed), as `runbook preflight` prints them. */
export function checkLines(checks: TargetCheck[]): string[] {
  return checks.map(
    (c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.check}: ${c.detail}${!c.ok && c.fix ? `\n      fix: ${c.fix}` : ''}`,
  );
}

export function verdict(checks: TargetCheck[]): string {
  const failed = checks.filter((c) => !c.ok).length;
  return failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`;
}
