import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ['test/**/*.test.ts'],
          exclude: ['test/managed-plugin.test.ts'],
          // Each file runs its own dockerd, daemon and loop filesystem; one at a time keeps
          // the timings meaningful and a 2-CPU CI box responsive.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'managed-plugin',
          include: ['test/managed-plugin.test.ts'],
          // debootstrap of a Debian rootfs from the mirror takes about a minute.
          testTimeout: 900_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
