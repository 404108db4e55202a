// One vitest config for every package and app: a project per folder with a package.json under
// packages/ and apps/, named after the folder. `pnpm --filter <pkg> test` runs that package's
// project (`vitest run --config ../../vitest.config.ts --project <folder>`); e2e keeps its own
// config (its Docker files' own limits).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = fileURLToPath(new URL('.', import.meta.url));

function packageDirs(group: string): string[] {
  return readdirSync(join(here, group), { withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && existsSync(join(here, group, entry.name, 'package.json')),
    )
    .map((entry) => join(here, group, entry.name));
}

/** What one package needs beyond the shared settings. */
const extra: Record<string, object> = {
  // clipanion 3's .mjs files import a directory ('../platform'), which Node's ESM loader
  // refuses; Node itself loads clipanion's CommonJS build (its `main`), so only the test
  // runner needs this: let Vite resolve clipanion instead of handing it to Node.
  cli: { server: { deps: { inline: ['clipanion'] } } },
};

export default defineConfig({
  test: {
    // Integration tests mount real filesystems and start real daemons.
    testTimeout: 120_000,
    // Two files at a time even on a 2-CPU machine (vitest's default there is one): an
    // integration file mostly waits on daemons, sshd and the disk, and each one's fixtures
    // (loop image, mount point, netns, subnet, socket, plugin name) are its own.
    maxWorkers: 2,
    hookTimeout: 180_000,
    // `test:unit` of a package whose tests all need root (test-utils: its fixtures) finds none.
    passWithNoTests: true,
    projects: [...packageDirs('packages'), ...packageDirs('apps')].map((root) => {
      const name = root.slice(root.lastIndexOf('/') + 1);
      return {
        extends: true,
        test: {
          name,
          root,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          ...extra[name],
        },
      };
    }),
  },
});
