import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure code, beside the sources, no cluster) and `integration` (test/,
// against the real local control plane started by `make cluster-up`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          exclude: ['src/gen/**'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          exclude: ['test/bench/**'],
          environment: 'node',
          testTimeout: 240_000,
          hookTimeout: 240_000,
          // Integration suites share one cluster; files run one at a time, tests within a file in order.
          fileParallelism: false,
        },
      },
      {
        // Benchmarks (`make bench-*`): print figures, assert nothing about speed; not in `make test`.
        test: {
          name: 'bench',
          include: ['test/bench/**/*.bench.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          environment: 'node',
          testTimeout: 3_600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
