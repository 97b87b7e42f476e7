import type { PwaEvidence } from '../../activities/index.js';
import type { PwaFindings } from './workflow.js';

/** pwa-stale-cache's texts: the findings in words, what its gate asks, and its summaries. */

type Cause = PwaFindings['causes'][number];

export function causeLines(causes: Cause[]): string[] {
  return causes.map((c) => `Cause: ${c.cause}: ${c.detail}`);
}

/** What is served, against the expected version (or a hint to give one). */
export function servedLine(before: PwaEvidence, expected: string | null): string {
  const against = expected ? ` (expected ${expected})` : ' (no expected version given: pass expectedVersion)';
  return `Served: version ${before.version.value ?? 'unknown'}${against}, ${before.assets.length} asset(s) checked under ${before.base}.`;
}

export function healthySummary(served: string, expected: string | null): string[] {
  return [
    'The PWA is served as it should be: nothing to do.',
    served,
    ...(expected ? [] : ['Not checked: whether this is the right version (no expected version).']),
  ];
}

export function unreachableSummary(lines: string[]): string[] {
  return [...lines, 'Nothing was changed: run connection-refused for this target first.'];
}

/** The summary when only the web server's headers are wrong: nothing to redeploy. */
export function headersOnlySummary(lines: string[], served: string): string[] {
  return [
    ...lines,
    served,
    'Nothing to redeploy: the build is right; the server headers above are for whoever configures the web server (then users need one reload).',
  ];
}

export function noRedeploySummary(lines: string[], served: string): string[] {
  return [...lines, served, 'Nothing was changed: the target declares no pwa.redeploy command.'];
}

export function dryRunSummary(lines: string[], served: string, basePath: string, expected: string | null): string[] {
  return [
    'Dry run: nothing was changed.',
    ...lines,
    served,
    `Would: run the redeploy command (VITE_BASE_PATH=${basePath}), then wait for version ${expected ?? '(any new)'} to be served.`,
  ];
}

export function redeployPrompt(target: string, lines: string[], basePath: string, expected: string | null): string {
  return `The PWA on ${target} serves the wrong build. ${lines.join(' ')} Plan: rebuild with VITE_BASE_PATH=${basePath} and redeploy through the target's command, then verify ${expected ? `version ${expected}` : 'the new version'} is served with every asset.`;
}

/** The summary after the redeploy: fixed (and how users get it) or not, and the headers left by hand. */
export function redeployedSummary(
  f: { fixed: boolean; after: PwaEvidence; still: Cause[]; remaining: string[] },
  lines: string[],
): string[] {
  return [
    f.fixed
      ? `Fixed: version ${f.after.version.value} is served, with its ${f.after.assets.length} asset(s) under ${f.after.base}.`
      : `Not fixed after the redeploy: ${f.still.map((c) => c.detail).join(' ')}`,
    ...f.remaining.map((r) => `Still to fix by hand: ${r}`),
    ...(f.fixed
      ? [
          'Users with the old service worker get the new build on their next navigation once sw.js is revalidated; a hard reload (or "Update on reload" in DevTools) forces it now.',
        ]
      : []),
    ...lines,
  ];
}
