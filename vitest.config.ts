import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Sandboxed jobs compete for 2 cores; parallel files would make timing-based
    // assertions (timeouts, latency) flaky without testing anything more.
    fileParallelism: false,
    setupFiles: ['test/setup.ts'],
  },
});
