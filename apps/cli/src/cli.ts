import { createRequire } from 'node:module';
import { Builtins, Cli, type CommandClass } from 'clipanion';
import { RunCommand } from './commands/run.js';
import type { CliContext } from './context.js';
import { EXIT_USAGE } from './errors.js';

// package.json sits one folder above both src/ (tests) and dist/ (the binary).
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
export const VERSION = version;

/** A command line that knows `commands` (every command: COMMANDS from './commands/index.js'). */
export function createCli(commands: readonly CommandClass<CliContext>[]): Cli<CliContext> {
  const cli = new Cli<CliContext>({
    binaryLabel: 'buttervolume: Docker volumes on BTRFS, with snapshots and replication',
    binaryName: 'buttervolume',
    binaryVersion: VERSION,
  });
  for (const command of commands) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/**
 * Runs one command line and returns the exit status: 0 ok, 1 failure (the daemon's Err, no
 * daemon), 2 bad usage. Clipanion's own run() reports parse errors with status 1.
 */
export async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  // The daemon (`run`) loads only its own command: the others' modules (the API client,
  // formatting, health reports…) stayed resident in it, ~6 MB it never used.
  const commands =
    argv[0] === 'run' ? [RunCommand] : (await import('./commands/index.js')).COMMANDS;
  const cli = createCli(commands);
  const colored = context.colorDepth > 1;
  if (argv.length === 0) {
    context.stderr.write(cli.usage(null, { colored }));
    return EXIT_USAGE;
  }
  let command: ReturnType<typeof cli.process>;
  try {
    command = cli.process([...argv], context);
  } catch (error) {
    // A monitoring system runs `check`: a command line it cannot use is UNKNOWN (3), not CRITICAL.
    if (argv[0] === 'check') {
      const { unknownLine } = await import('./commands/check.js');
      context.stdout.write(`${unknownLine(error)}\n`);
      return 3;
    }
    context.stderr.write(cli.error(error, { colored }));
    return EXIT_USAGE;
  }
  return cli.run(command, context);
}
