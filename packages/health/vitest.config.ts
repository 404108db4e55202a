import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests mount real filesystems and start real daemons.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
