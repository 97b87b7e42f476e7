import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native addon does not like worker threads.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/setup-runtime.ts'],
    include: ['test/**/*.test.ts'],
    // The cluster lane (npm run test:cluster, vitest.cluster.config.ts) runs these.
    exclude: ['test/cluster/**', '**/node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
