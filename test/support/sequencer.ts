import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The slowest files first (their durations in CI: 50–125 s each), so that the two workers finish
 * together. Without a cache, vitest orders by file size, and the chaos files (small, slow) ran last,
 * one worker alone for the final minutes. Files not listed keep vitest's order after these.
 */
const slowFirst = [
  'test/stuck-imports.test.ts',
  'test/migration-failed.test.ts',
  'test/chaos/migration-failed-restore.test.ts',
  'test/db-crash.test.ts',
  'test/chaos/stuck-imports.test.ts',
  'test/chaos/migration-failed.test.ts',
  'test/console-evidence.test.ts',
  'test/imports-backlog.test.ts',
  'test/cli-args.test.ts',
  'test/chaos/schema-drift.test.ts',
  'test/chaos/release-migration.test.ts',
  'test/redis-restart.test.ts',
  'test/release-migration.test.ts',
  'test/schema-drift.test.ts',
];

export default class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = slowFirst.findIndex((p) => f.moduleId.endsWith(`/${p}`));
      return i < 0 ? slowFirst.length : i;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
