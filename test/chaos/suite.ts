import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/harness.js';
import { baseline, choosePoints, killPoints, runPoint, type PointResult } from './harness.js';
import { migrationLog, scenarios } from './scenarios.js';

// Crash tests (see harness.ts). `npm test` kills at a sample of points per runbook; `npm run chaos`
// (CHAOS=all) at every point of the baseline: before and after each activity, and inside the long
// ones (after their first heartbeat). Each runbook's results go to .data/chaos/<runbook>.json.
// One test file per runbook (test/chaos/<runbook>.test.ts), so vitest spreads them over its workers.
process.env.GESTIQ_MIGRATION_LOG ??= migrationLog();
const ALL = process.env.CHAOS === 'all';
/** Points per runbook in `npm run chaos` (the riskiest first, see choosePoints); CHAOS_MAX=0: every point. */
const MAX = Number(process.env.CHAOS_MAX ?? 24) || Infinity;

/** The sample in `npm test`: points where a kill hurts most (inside or right after a destructive step). */
const SAMPLE: Record<string, string[]> = {
  'release-migration': ['after:alembicMigrate#3'], // the live upgrade done, not yet reported
  'migration-failed': ['after:alembicMigrate#5'], // the live downgrade done, not yet reported
  'migration-failed-restore': ['after:pgRestoreInto', 'after:pgSwap'], // the dump restored into scratch / swapped in, not yet reported
  'schema-drift': ['after:alembicMigrate#4'], // the generated revision applied to the live database
  'stuck-imports': ['beat:importsReenqueue:1', 'after:serviceAction'], // half-way through the re-enqueue; the worker restarted
};

/** The crash test of one runbook's scenario (scenarios.ts). */
export function chaosSuite(name: string): void {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`No chaos scenario "${name}" in scenarios.ts (there are: ${Object.keys(scenarios).join(', ')})`);
  describe(`${name} survives its worker killed`, () => {
    it(ALL ? 'at every kill point' : 'at a sample of kill points', { timeout: ALL ? 3 * 3600_000 : 900_000 }, async () => {
      const expected = await baseline(scenario);
      expect(expected.status, `the uninterrupted run: ${expected.error ?? ''}`).toBe('completed');
      const all = killPoints(expected.activities);
      console.log(`${name}: baseline ${expected.outcome}, ${expected.activities.length} activities, ${all.length} kill points: ${expected.activities.join(' ')}`);
      for (const p of SAMPLE[name]!) expect(all, `sample point ${p} is not a point of the baseline`).toContain(p);
      const points = ALL ? choosePoints(all, MAX) : SAMPLE[name]!;
      const results: PointResult[] = [];
      for (const point of points) {
        const r = await runPoint(scenario, point, expected);
        results.push(r);
        console.log(`${name} ${point}: ${r.differences.length ? `DIFFERS: ${r.differences.join('; ')}` : r.killed ? 'equal' : 'not reached: skipped'} (${r.seconds} s)${r.observed ? ` ${JSON.stringify(r.observed)}` : ''}`);
      }
      const dir = path.join(repoRoot, '.data/chaos');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ baseline: { outcome: expected.outcome, activities: expected.activities, records: expected.records }, points: all.length, results }, null, 2));
      expect(results.filter((r) => r.differences.length > 0).map((r) => `${r.point}: ${r.differences.join('; ')}`)).toEqual([]);
      const killed = results.filter((r) => r.killed).length;
      if (ALL) expect(killed, 'points where the worker was really killed').toBeGreaterThanOrEqual(Math.min(20, points.length));
      else expect(results.filter((r) => !r.killed).map((r) => r.point), 'sample points never reached').toEqual([]);
    });
  });
}
