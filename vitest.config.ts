import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native addon does not like worker threads.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/setup-runtime.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
