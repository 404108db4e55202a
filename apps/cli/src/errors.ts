// The one place where errors become exit codes and messages: 0 ok, 1 the daemon (or the host)
// said no, 2 the command line itself is wrong.
import { DaemonError, InvalidRequestError } from '@buttervolume/api';
import { InvalidNameError } from '@buttervolume/names';
import { InvalidPatternError } from '@buttervolume/retention';
import { InvalidJobError } from '@buttervolume/scheduler';
import { StorageError } from '@buttervolume/storage';
import { UsageError } from 'clipanion';
import type { CliContext } from './context.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface ReportOptions {
  json: boolean;
  /** The command words, for the `--help` hint on usage errors. */
  command?: string;
}

/** Prints what went wrong for a person (stderr) and, with --json, for a script (stdout). */
export function reportError(error: unknown, context: CliContext, options: ReportOptions): number {
  const { stderr, stdout } = context;
  const usage =
    error instanceof UsageError ||
    error instanceof InvalidNameError ||
    error instanceof InvalidRequestError ||
    error instanceof InvalidJobError ||
    error instanceof InvalidPatternError ||
    (error instanceof StorageError &&
      (error.code === 'INVALID_SIZE' || error.code === 'INVALID_PATH'));
  const message = error instanceof Error ? error.message : String(error);
  if (options.json) {
    const answer =
      error instanceof DaemonError && isObject(error.response) ? error.response : { Err: message };
    stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  }
  if (usage) {
    const hint = options.command
      ? `\nRun \`buttervolume ${options.command} --help\` for usage.`
      : '';
    stderr.write(`Error: ${message}${hint}\n`);
    return EXIT_USAGE;
  }
  if (isCoded(error)) {
    // Ours and the system's errors say what to do (DaemonUnavailableError names the socket
    // and how to start the daemon); the daemon's Err is printed as it came.
    stderr.write(`Error: ${message}\n`);
  } else {
    // A bug of ours: keep the stack, it is what a bug report needs.
    const stack = error instanceof Error && error.stack ? error.stack : message;
    stderr.write(`Internal error: ${stack}\n`);
  }
  return EXIT_FAILURE;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Our errors (DaemonError, ConfigError, StorageError, …) and Node's carry a string `code`. */
function isCoded(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}
