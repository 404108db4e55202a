import { type CommandResult, interrupted, runCommand } from '@buttervolume/spawner';
import type { ExecaError } from 'execa';
import {
  AlreadyExistsError,
  BtrfsCommandError,
  type BtrfsError,
  type CommandFailure,
  NestedSubvolumesError,
  NoSpaceError,
  NoSuchPathError,
  NotASubvolumeError,
  PermissionError,
  QuotaDisabledError,
} from './errors.js';

// btrfs-progs prints strerror() text; pin the C locale so the patterns below always match.
export const COMMAND_ENV = { LC_ALL: 'C', LANG: 'C' } as const;

/**
 * Turns a failed command into the most specific error we know. Order matters: "No such file"
 * must win over "Not a Btrfs subvolume" only when the path is missing, and btrfs prints both
 * forms depending on the subcommand.
 */
export function classifyFailure(failure: CommandFailure, path: string | undefined): BtrfsError {
  const stderr = failure.stderr;
  const subject = path ?? failure.command.at(-1) ?? '';
  const details = { failure };
  if (/No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/i.test(stderr)) {
    return new NoSpaceError(path, details);
  }
  if (/Permission denied|Operation not permitted|EPERM|EACCES/i.test(stderr)) {
    return new PermissionError(path, details);
  }
  if (/quotas? not enabled/i.test(stderr)) return new QuotaDisabledError(subject, details);
  if (/already exists|File exists/i.test(stderr)) return new AlreadyExistsError(subject, details);
  if (/No such file or directory|unable to resolve|cannot find real path/i.test(stderr)) {
    return new NoSuchPathError(subject, details);
  }
  if (/Not a Btrfs subvolume|not a subvolume/i.test(stderr)) {
    return new NotASubvolumeError(subject, details);
  }
  // The usual cause: a nested subvolume (e.g. docker's btrfs storage driver inside a volume).
  if (/Directory not empty/i.test(stderr)) return new NestedSubvolumesError(subject, details);
  // Subcommand words only (no paths), e.g. "btrfs subvolume delete".
  const words = failure.command.slice(1).filter((arg) => /^[a-z]+$/.test(arg));
  const what = [failure.command[0], ...words.slice(0, 2)].join(' ');
  return new BtrfsCommandError(
    `${what} failed${path ? ` for ${path}` : ''}: see the command and stderr below`,
    failure,
    { path },
  );
}

export function failureOf(error: ExecaError, command: readonly string[]): CommandFailure {
  return {
    command,
    exitCode: error.exitCode,
    // A binary that cannot start has no stderr; its spawn error is the useful text.
    stderr:
      typeof error.stderr === 'string' && error.stderr !== '' ? error.stderr : error.shortMessage,
  };
}

// Through the spawner (@buttervolume/spawner): a snapshot or a listing is one short command on
// the hot paths, and forking the daemon itself for each one stalls its event loop.
async function finish(
  file: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<CommandResult> {
  // The spawner died mid-command (SpawnerExitedError): reported like a command killed.
  const result = await runCommand(file, args, { env: { ...COMMAND_ENV, ...env } }).catch(
    (error: unknown) => interrupted([file, ...args], error),
  );
  return {
    ...result,
    stdout: stripFinalNewline(result.stdout),
    stderr: stripFinalNewline(result.stderr),
  };
}

function stripFinalNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

function failureOfFinished(finished: CommandResult, command: readonly string[]): CommandFailure {
  return {
    command,
    exitCode: finished.exitCode,
    // A binary that cannot start has no stderr; its spawn error is the useful text.
    stderr:
      finished.stderr !== ''
        ? finished.stderr
        : finished.spawnError !== undefined
          ? finished.spawnError.message.includes(command.join(' '))
            ? finished.spawnError.message
            : `${finished.spawnError.message}: ${command.join(' ')}`
          : `${command[0]} exited ${finished.exitCode ?? 'by a signal'}`,
  };
}

/** Runs one command to completion, returning stdout, or throwing a classified BtrfsError. */
export async function run(
  file: string,
  args: readonly string[],
  path: string | undefined,
  env: Readonly<Record<string, string>> = {},
): Promise<string> {
  const finished = await finish(file, args, env);
  if (finished.exitCode === 0) return finished.stdout;
  throw classifyFailure(failureOfFinished(finished, [file, ...args]), path);
}

/**
 * Runs a command that reports per-argument failures on stderr but still answers for the other
 * arguments (`lsattr -d a b c`): the caller reads stdout and decides what a failure means.
 * Throws only when the process could not run at all.
 */
export async function runTolerant(
  file: string,
  args: readonly string[],
): Promise<{ stdout: string; failure: CommandFailure | undefined }> {
  const finished = await finish(file, args, {});
  if (finished.exitCode === 0) return { stdout: finished.stdout, failure: undefined };
  const failure = failureOfFinished(finished, [file, ...args]);
  // No exit code: never started (missing binary) or killed; nothing on stdout can be trusted.
  if (finished.exitCode === undefined) throw classifyFailure(failure, undefined);
  return { stdout: finished.stdout, failure };
}
