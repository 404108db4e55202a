// How the README test runs a README command for real: the substitutions that turn a line
// written for a reader's machine into the same command against the test's own stack (a loop
// btrfs, a daemon, a private dockerd, host B in a network namespace). Every substitution is
// listed here, so what is run is visibly the README's command and nothing else.
import type { ReadmeCommand } from './readme.js';

/**
 * The snapshot name the README uses wherever a command needs an existing snapshot of pgdata.
 * The test replaces it with the newest snapshot of pgdata on the host the command runs on.
 */
export const SNAPSHOT_PLACEHOLDER = 'pgdata@2026-11-24T19:13:40.123456';

/** Volumes the README's examples assume exist (created with the driver when missing). */
export const README_VOLUMES = ['pgdata', 'uploads'] as const;

/** The README's driver name for the host service, replaced by the test's unique plugin name. */
export const README_DRIVER = 'btrfs';

/**
 * Commands the README says to run on backup1 (the host receiving sends): they run against a
 * second daemon inside host B.
 */
export const ON_BACKUP1 = new Set([
  `buttervolume clone ${SNAPSHOT_PLACEHOLDER} pgdata`,
  'buttervolume schedule purge:1d:4w:1y 1440 pgdata',
]);

/** `-d btrfs`, `--driver btrfs`, `volume-driver=btrfs` → the test's driver; `--network none` added. */
export function dockerArgs(argv: readonly string[], driver: string): string[] {
  const args = argv.slice(1).map((arg, i, all) => {
    if (arg === README_DRIVER && ['-d', '--driver', '--volume-driver'].includes(all[i - 1] ?? ''))
      return driver;
    return arg.replace(/(^|,)volume-driver=btrfs(?=,|$)/, `$1volume-driver=${driver}`);
  });
  // The private dockerd has no bridge (the tests' network is loopback and their own namespaces).
  if (args[0] === 'run' && !args.includes('--network')) args.splice(1, 0, '--network', 'none');
  return args;
}

/**
 * The README's compose file for the test's driver; each service gets `network_mode: none`
 * (no bridge in the private dockerd). The image names resolve to local stand-ins.
 */
export function composeFileFor(readmeYaml: string, driver: string): string {
  if (!/^ {4}driver: btrfs$/m.test(readmeYaml)) {
    throw new Error('the README compose file no longer declares `driver: btrfs`');
  }
  return readmeYaml
    .replace(/^( {4}driver:) btrfs$/m, `$1 ${driver}`)
    .replace(/^( {4}image: .*)$/gm, '$1\n    network_mode: none');
}

/** Replaces the snapshot placeholder in each word. */
export function withSnapshot(argv: readonly string[], snapshot: string): string[] {
  return argv.map((arg) => arg.replaceAll(SNAPSHOT_PLACEHOLDER, snapshot));
}

/** The newest snapshot of `volume` among directory entries (send markers excluded). */
export function newestSnapshot(entries: readonly string[], volume: string): string | undefined {
  return entries
    .filter((name) => name.startsWith(`${volume}@`) && name.split('@').length === 2)
    .sort()
    .at(-1);
}

/** `docker run … --name X …` → X. */
export function containerName(argv: readonly string[]): string | undefined {
  const i = argv.indexOf('--name');
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Where a README command is run; for messages and counts. */
export function describeCommand(command: ReadmeCommand): string {
  return `README.md:${command.line} (${command.heading}): ${command.text}`;
}
