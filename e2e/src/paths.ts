import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built `buttervolume` command: the e2e tests run the real thing, as a user would. */
export const CLI_BIN = fileURLToPath(new URL('../../apps/cli/dist/bin.js', import.meta.url));

/** The managed-plugin builder (deploy/managed-plugin/build.mjs). */
export const MANAGED_PLUGIN_BUILDER = fileURLToPath(
  new URL('../../deploy/managed-plugin/build.mjs', import.meta.url),
);

export function requireBuiltCli(): string {
  if (!existsSync(CLI_BIN)) {
    throw new Error(
      `${CLI_BIN} is missing: build the CLI and the daemon first (pnpm --filter @buttervolume/cli... build)`,
    );
  }
  return CLI_BIN;
}
