import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DoneMessage, RunMessage } from './protocol.js';
import { MAX_CAPTURE } from './tail.js';

// Why a spawner process: Node's spawn() forks the calling process, and fork() copies its page
// tables while the event loop waits, in time proportional to its memory: 32 ms for a 149 MiB
// daemon, on every btrfs/ssh/rsync command, and every Docker call waiting behind it. One small
// process, forked once, starts the commands instead; the daemon only exchanges messages.

export interface RunOptions {
  /** Variables over the caller's own environment (resolved when the command is asked for). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Stops the command (SIGTERM, then SIGKILL) after this long; 0 or absent: never. */
  timeoutMs?: number | undefined;
  /** Stops the command (SIGTERM, then SIGKILL) when aborted. */
  signal?: AbortSignal | undefined;
  /** Delay between SIGTERM and SIGKILL; default 2 s. */
  forceKillAfterMs?: number | undefined;
  /** Characters of stdout kept (its end); default: all of it. */
  maxStdout?: number | undefined;
  /** Characters of stderr kept (its end); default MAX_CAPTURE. */
  maxStderr?: number | undefined;
  /** Written to the command's stdin, which is then closed (closed from the start without). */
  input?: string | undefined;
}

export interface CommandResult {
  /** The full command line, binary first, exactly as started (no shell). */
  command: readonly string[];
  /** undefined when killed by a signal or never started. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  canceled: boolean;
  /** Why the command could not start (ENOENT, EACCES), when it could not. */
  spawnError: Error | undefined;
}

/** The spawner process ended while commands were running: their outcome is unknown. */
export class SpawnerExitedError extends Error {
  override name = 'SpawnerExitedError';
  readonly code = 'SPAWNER_EXITED';
  readonly command: readonly string[];
  constructor(command: readonly string[], how: string) {
    super(
      `the process that runs commands ${how} while \`${command.join(' ')}\` was running: its outcome is unknown (check its effect before retrying); the next command starts a new one`,
    );
    this.command = command;
  }
}

interface Pending {
  command: readonly string[];
  child: ChildProcess;
  resolve(result: CommandResult): void;
  reject(error: Error): void;
}

/** Where the spawner's module is: next to this one, built (.js) or, in tests, as source (.ts). */
function childModule(): { path: string; execArgv: string[] } {
  const built = fileURLToPath(new URL('./child.js', import.meta.url));
  if (existsSync(built)) return { path: built, execArgv: [] };
  return {
    path: fileURLToPath(new URL('./child.ts', import.meta.url)),
    execArgv: ['--import', 'tsx'],
  };
}

// A small heap keeps the spawner's own forks cheap; its work is a few strings per command.
const HEAP = ['--max-old-space-size=64', '--max-semi-space-size=1'];

class Spawner {
  #child: ChildProcess | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;

  run(file: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
    const command = [file, ...args];
    if (options.signal?.aborted) return Promise.resolve(notRun(command, { canceled: true }));
    const child = this.#ensure();
    const id = this.#nextId++;
    const message: RunMessage = {
      type: 'run',
      id,
      file,
      args: [...args],
      env: environment(options.env),
      timeoutMs: options.timeoutMs ?? 0,
      forceKillAfterMs: options.forceKillAfterMs ?? 2000,
      maxStdout: options.maxStdout ?? null,
      maxStderr: options.maxStderr ?? MAX_CAPTURE,
      input: options.input ?? null,
    };
    return new Promise<CommandResult>((resolve, reject) => {
      const onAbort = () => {
        if (child.connected) child.send({ type: 'kill', id });
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => options.signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        command,
        child,
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      this.#hold(true);
      child.send(message);
    });
  }

  #ensure(): ChildProcess {
    if (this.#child?.connected) return this.#child;
    const { path, execArgv } = childModule();
    const child = fork(path, [], {
      execArgv: [...execArgv, ...HEAP],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child.on('message', (message: DoneMessage) => this.#done(message));
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      const how = signal ? `was killed (${signal})` : `exited (code ${code})`;
      for (const [id, pending] of this.#pending) {
        if (pending.child !== child) continue;
        this.#pending.delete(id);
        pending.reject(new SpawnerExitedError(pending.command, how));
      }
    });
    // A failed fork (EAGAIN, ENOMEM) also ends in 'exit'; nothing more to do here.
    child.on('error', () => {});
    this.#child = child;
    this.#hold(false);
    return child;
  }

  #done(message: DoneMessage): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (this.#pending.size === 0) this.#hold(false);
    const spawnError = message.spawnError
      ? Object.assign(new Error(message.spawnError.message), { code: message.spawnError.code })
      : undefined;
    pending.resolve({
      command: pending.command,
      exitCode: message.exitCode ?? undefined,
      signal: (message.signal ?? undefined) as NodeJS.Signals | undefined,
      stdout: message.stdout,
      stderr: message.stderr,
      timedOut: message.timedOut,
      canceled: message.canceled,
      spawnError,
    });
  }

  /** The spawner keeps this process alive only while it runs commands for it. */
  #hold(busy: boolean): void {
    const child = this.#child;
    if (!child) return;
    if (busy) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }

  start(): number | undefined {
    return this.#ensure().pid;
  }

  stop(): void {
    this.#child?.disconnect();
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }
}

function environment(
  extra: Readonly<Record<string, string | undefined>> | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...extra })) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function notRun(command: readonly string[], how: { canceled: boolean }): CommandResult {
  return {
    command,
    exitCode: undefined,
    signal: undefined,
    stdout: '',
    stderr: '',
    timedOut: false,
    canceled: how.canceled,
    spawnError: undefined,
  };
}

/**
 * What callers that read every outcome as a result make of a spawner that ended under a
 * command (SpawnerExitedError): a command with no exit code, the error as its spawnError.
 */
export function interrupted(command: readonly string[], error: unknown): CommandResult {
  const spawnError = error instanceof Error ? error : new Error(String(error));
  return { ...notRun(command, { canceled: false }), spawnError };
}

const spawner = new Spawner();

/**
 * Runs `file` with `args` (no shell) to its end through the spawner process, started on first
 * use and again after it ends. Resolves with how the command ended, whatever its exit code;
 * rejects only with SpawnerExitedError (or the error of a fork that could not start it).
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return spawner.run(file, args, options);
}

/**
 * Starts the spawner now, while this process is still small (its own fork costs the same as
 * any other), rather than at the first command.
 */
export function startSpawner(): number | undefined {
  return spawner.start();
}

/** The spawner's pid, when it runs (for tests and the soak bench's RSS figures). */
export function spawnerPid(): number | undefined {
  return spawner.pid;
}

/** Ends the spawner (it is started again by the next command). */
export function stopSpawner(): void {
  spawner.stop();
}
