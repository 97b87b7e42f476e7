import { configDefaults, defineConfig } from 'vitest/config';
import SlowFirst from './test/support/sequencer.js';

export default defineConfig({
  test: {
    // Temporal's native addon does not like worker threads.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/setup-runtime.ts'],
    include: ['test/**/*.test.ts'],
    // test/cluster runs against the production-shape server in a lane of its own (npm run test:cluster, vitest.cluster.config.ts).
    exclude: [...configDefaults.exclude, 'test/cluster/**'],
    sequence: { sequencer: SlowFirst },
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
