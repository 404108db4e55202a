import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests mount real filesystems and start real daemons.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // clipanion 3's .mjs files import a directory ('../platform'), which Node's ESM loader
    // refuses; Node itself loads clipanion's CommonJS build (its `main`), so only the test
    // runner needs this: let Vite resolve clipanion instead of handing it to Node.
    server: { deps: { inline: ['clipanion'] } },
  },
});
