import { spawn } from 'node:child_process';
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

/** How a finished command ended, as `run` and `runTolerant` read it. */
interface Finished {
  stdout: string;
  stderr: string;
  /** undefined when killed by a signal or never started. */
  exitCode: number | undefined;
  /** Why it could not start (ENOENT, EACCES), when it could not. */
  spawnError?: Error;
}

// Why node:child_process and not execa for these short commands: they run on the hot paths
// (a snapshot is one `btrfs subvolume snapshot`), and execa's per-call set-up cost ~2 ms more
// than a plain spawn for the same command (bench/btrfs.ts, "spawn" lines), a third of a
// snapshot. Arguments are still an array; no shell.
function finish(
  file: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...COMMAND_ENV, ...env },
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const text = (chunks: Buffer[]) => stripFinalNewline(Buffer.concat(chunks).toString('utf8'));
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    child.once('close', (code) => {
      resolve({
        stdout: text(stdout),
        stderr: text(stderr),
        exitCode: code ?? undefined,
        ...(spawnError === undefined ? {} : { spawnError, exitCode: undefined }),
      });
    });
  });
}

function stripFinalNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

function failureOfFinished(finished: Finished, command: readonly string[]): CommandFailure {
  return {
    command,
    exitCode: finished.exitCode,
    // A binary that cannot start has no stderr; its spawn error is the useful text.
    stderr:
      finished.stderr !== ''
        ? finished.stderr
        : finished.spawnError !== undefined
          ? `${finished.spawnError.message}: ${command.join(' ')}`
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
