import { createRequire } from 'node:module';
import { Builtins, Cli } from 'clipanion';
import { CheckCommand, unknownLine } from './commands/check.js';
import { CloneCommand } from './commands/clone.js';
import { InitCommand } from './commands/init.js';
import { PurgeCommand } from './commands/purge.js';
import { HandOverCommand, ReplicaCommand } from './commands/replica.js';
import { RestoreCommand } from './commands/restore.js';
import { RmCommand } from './commands/rm.js';
import { RunCommand } from './commands/run.js';
import { ScheduleCommand } from './commands/schedule.js';
import { ScheduledCommand } from './commands/scheduled.js';
import { SendCommand } from './commands/send.js';
import { SnapshotCommand } from './commands/snapshot.js';
import { SnapshotsCommand } from './commands/snapshots.js';
import { StatusCommand } from './commands/status.js';
import { SyncCommand } from './commands/sync.js';
import type { CliContext } from './context.js';
import { EXIT_USAGE } from './errors.js';

// package.json sits one folder above both src/ (tests) and dist/ (the binary).
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
export const VERSION = version;

export const COMMANDS = [
  RunCommand,
  InitCommand,
  SnapshotCommand,
  SnapshotsCommand,
  ScheduleCommand,
  ScheduledCommand,
  RestoreCommand,
  CloneCommand,
  SendCommand,
  SyncCommand,
  RmCommand,
  PurgeCommand,
  StatusCommand,
  CheckCommand,
  ReplicaCommand,
  HandOverCommand,
] as const;

export function createCli(): Cli<CliContext> {
  const cli = new Cli<CliContext>({
    binaryLabel: 'buttervolume: Docker volumes on BTRFS, with snapshots and replication',
    binaryName: 'buttervolume',
    binaryVersion: VERSION,
  });
  for (const command of COMMANDS) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/**
 * Runs one command line and returns the exit status: 0 ok, 1 failure (the daemon's Err, no
 * daemon), 2 bad usage. Clipanion's own run() reports parse errors with status 1.
 */
export async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  const cli = createCli();
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
      context.stdout.write(`${unknownLine(error)}\n`);
      return 3;
    }
    context.stderr.write(cli.error(error, { colored }));
    return EXIT_USAGE;
  }
  return cli.run(command, context);
}
