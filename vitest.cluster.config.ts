import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the production shape (src/cluster: Temporal built from source on
 * PostgreSQL with mTLS, two workers, two APIs) with a chosen set of the suite's tests pointed at
 * it, plus the tests only a cluster can run (test/cluster/). test/cluster/setup.ts starts the
 * cluster and sets TEMPORAL_ADDRESS and the TLS variables; test/global-setup.ts then uses that
 * server instead of a dev server of its own, and scans its histories for secrets at the end.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/cluster/setup.ts', 'test/global-setup.ts'],
    setupFiles: ['test/support/setup-runtime.ts'],
    include: [
      'test/cluster/**/*.test.ts',
      'test/gates.test.ts',
      'test/db-access.test.ts',
      'test/stuck-imports.test.ts',
      'test/api-fuzz.test.ts',
      'test/worker-loss.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 900_000,
  },
});
