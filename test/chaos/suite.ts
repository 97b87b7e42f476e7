import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/harness.js';
import {
  baseline,
  choosePoints,
  killPoints,
  rotatingPoint,
  rotationCandidates,
  runPoint,
  type PointResult,
} from './harness.js';
import { migrationLog, scenarios } from './scenarios.js';

// Crash tests (see harness.ts). `npm test` kills at the fixed points below plus one point per
// runbook that rotates with the commit; `npm run chaos` (CHAOS=all) at every point of the baseline
// up to CHAOS_MAX: before and after each activity, and inside the long ones (after their first
// heartbeat). CHAOS_POINTS='a,b' kills at exactly those (to replay a failure). Each runbook's
// results go to .data/chaos/<runbook>.json. One test file per runbook
// (test/chaos/<runbook>.test.ts), so vitest spreads them over its workers.
process.env.GESTIQ_MIGRATION_LOG ??= migrationLog();
const ALL = process.env.CHAOS === 'all';
/** Points per runbook in `npm run chaos` (the riskiest first, see choosePoints); CHAOS_MAX=0: every point. */
const MAX = Number(process.env.CHAOS_MAX ?? 24) || Infinity;
const REPLAY = process.env.CHAOS_POINTS?.split(',')
  .map((p) => p.trim())
  .filter(Boolean);

/** Points killed at in every `npm test`: where a kill hurts most (inside or right after a destructive step). */
const FIXED: Record<string, string[]> = {
  'release-migration': ['after:alembicMigrate#3'], // the live upgrade done, not yet reported
  'migration-failed': ['after:alembicMigrate#5'], // the live downgrade done, not yet reported
  // pg_restore running into the scratch database; the renames committed, settings not yet put back; the swap done, not yet reported
  'migration-failed-restore': ['beat:pgRestoreInto:1', 'beat:pgSwap:1', 'after:pgSwap'],
  'schema-drift': ['after:alembicMigrate#4'], // the generated revision applied to the live database
  'stuck-imports': ['beat:importsReenqueue:1', 'after:serviceAction'], // half-way through the re-enqueue; the worker restarted
};

/** The commit the rotating point is chosen from: CHAOS_COMMIT=<number> replays another's. */
function commitNumber(): { n: number; id: string } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  if (process.env.CHAOS_COMMIT)
    return { n: Number(process.env.CHAOS_COMMIT), id: `CHAOS_COMMIT=${process.env.CHAOS_COMMIT}` };
  try {
    return { n: Number(git('rev-list', '--count', 'HEAD')), id: git('rev-parse', '--short', 'HEAD') };
  } catch {
    return { n: Math.floor(Date.now() / 86_400_000), id: 'no git: the day number' };
  }
}

/** The crash test of one runbook's scenario (scenarios.ts). */
export function chaosSuite(name: string): void {
  const scenario = scenarios[name];
  if (!scenario)
    throw new Error(`No chaos scenario "${name}" in scenarios.ts (there are: ${Object.keys(scenarios).join(', ')})`);
  describe(`${name} survives its worker killed`, () => {
    it(
      ALL ? 'at every kill point' : "at the fixed kill points and this commit's rotating one",
      { timeout: ALL ? 3 * 3600_000 : 900_000 },
      async () => {
        const expected = await baseline(scenario);
        expect(expected.status, `the uninterrupted run: ${expected.error ?? ''}`).toBe('completed');
        expect(scenario.achieves(expected), 'what the uninterrupted run failed to achieve').toEqual([]);
        const all = killPoints(expected.activities);
        console.log(
          `${name}: baseline ${expected.outcome}, ${expected.activities.length} activities, ${all.length} kill points: ${expected.activities.join(' ')}`,
        );
        const fixed = FIXED[name]!;
        for (const p of [...fixed, ...(REPLAY ?? [])])
          expect(all, `point ${p} is not a point of the baseline`).toContain(p);
        let points: string[];
        if (REPLAY) points = REPLAY;
        else if (ALL) points = choosePoints(all, MAX);
        else {
          const commit = commitNumber();
          const candidates = rotationCandidates(all, fixed);
          // Offset by the runbook's name: one commit kills each runbook at a different kind of point.
          const rotating = rotatingPoint(candidates, commit.n + [...name].reduce((a, c) => a + c.charCodeAt(0), 0));
          console.log(
            `${name}: rotating point for commit ${commit.id} (#${commit.n}): ${rotating} (${candidates.length} candidates); replay: CHAOS_POINTS='${rotating}' npx vitest run test/chaos/${name}.test.ts`,
          );
          points = [...fixed, ...(rotating ? [rotating] : [])];
        }
        const results: PointResult[] = [];
        for (const point of points) {
          const r = await runPoint(scenario, point, expected);
          results.push(r);
          console.log(
            `${name} ${point}: ${r.differences.length ? `DIFFERS: ${r.differences.join('; ')}` : r.killed ? 'equal' : 'not reached'} (${r.seconds} s)${r.observed ? ` ${JSON.stringify(r.observed)}` : ''}`,
          );
        }
        const dir = path.join(repoRoot, '.data/chaos');
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          path.join(dir, `${name}.json`),
          JSON.stringify(
            {
              baseline: { outcome: expected.outcome, activities: expected.activities, records: expected.records },
              points: all.length,
              results,
            },
            null,
            2,
          ),
        );
        expect(
          results.filter((r) => r.differences.length > 0).map((r) => `${r.point}: ${r.differences.join('; ')}`),
        ).toEqual([]);
        // A point the run never reached tested nothing: it fails, in the sample and in the full run.
        expect(
          results.filter((r) => !r.killed).map((r) => r.point),
          'points never reached',
        ).toEqual([]);
      },
    );
  });
}
