import { defineConfig } from 'vitest/config';

/** The cluster lane: tests against the production-shape Temporal server (src/cluster/), not the dev server. */
export default defineConfig({
  test: {
    // Temporal's native addon does not like worker threads.
    pool: 'forks',
    maxWorkers: 1,
    setupFiles: ['test/support/setup-runtime.ts'],
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 180_000,
    // The first run builds the Temporal server (minutes).
    hookTimeout: 1_200_000,
  },
});
