import { ExecaError, execa } from 'execa';
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

/** Runs one command to completion, returning stdout, or throwing a classified BtrfsError. */
export async function run(
  file: string,
  args: readonly string[],
  path: string | undefined,
  env: Readonly<Record<string, string>> = {},
): Promise<string> {
  const command = [file, ...args];
  try {
    const { stdout } = await execa(file, args, {
      stdin: 'ignore',
      env: { ...COMMAND_ENV, ...env },
    });
    return stdout;
  } catch (error) {
    if (error instanceof ExecaError) throw classifyFailure(failureOf(error, command), path);
    throw error;
  }
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
  const command = [file, ...args];
  const result = await execa(file, args, { stdin: 'ignore', env: COMMAND_ENV, reject: false });
  if (!result.failed) return { stdout: result.stdout, failure: undefined };
  const failure: CommandFailure = {
    command,
    exitCode: result.exitCode,
    stderr: result.stderr !== '' ? result.stderr : (result.shortMessage ?? ''),
  };
  // No exit code: never started (missing binary) or killed; nothing on stdout can be trusted.
  if (result.exitCode === undefined) throw classifyFailure(failure, undefined);
  return { stdout: result.stdout, failure };
}
