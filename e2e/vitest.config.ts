import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two files at a time: each file has its own dockerd, daemon, loop filesystem, plugin name
    // and subnet, and most of a file's time is spent waiting (dockerd and container starts,
    // the 60-second soak, debootstrap's downloads), not computing. Timing figures are the
    // benches' job, not the tests'.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          // One project for every Docker file, the managed plugin's included (its long steps
          // carry their own timeouts): vitest starts the larger files first, so the longest
          // (the README's, the managed plugin's image build) overlap the others instead of
          // running alone at the end.
          name: 'docker',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
