import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signalIfSame } from './proc.js';
import type {
  DoneMessage,
  EndedMessage,
  LstatMessage,
  PipelineMessage,
  Reply,
  RunMessage,
  StageMessage,
} from './protocol.js';
import { MAX_CAPTURE } from './tail.js';

// Why a spawner process: Node's spawn() forks the calling process, and fork() copies its page
// tables while the event loop waits, in time proportional to its memory: 32 ms for a 149 MiB
// daemon, on every btrfs/ssh/rsync command, and every Docker call waiting behind it. One small
// process, forked once, starts the commands instead; the daemon only exchanges messages.

/** What bounds a command or a pipeline: its environment, and when it is stopped. */
interface Bounds {
  /** Variables over the caller's own environment (resolved when the work is asked for). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Stops it (SIGTERM, then SIGKILL; every stage of a pipeline) after this long; 0 or absent: never. */
  timeoutMs?: number | undefined;
  /** Stops it (SIGTERM, then SIGKILL) when aborted. */
  signal?: AbortSignal | undefined;
  /** Delay between SIGTERM and SIGKILL; default 2 s. */
  forceKillAfterMs?: number | undefined;
}

export interface RunOptions extends Bounds {
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

/** The spawner process ended while commands were running: they were stopped, their outcome is unknown. */
export class SpawnerExitedError extends Error {
  override name = 'SpawnerExitedError';
  readonly code = 'SPAWNER_EXITED';
  readonly command: readonly string[];
  constructor(command: readonly string[], how: string) {
    super(
      `the process that runs commands ${how} while \`${command.join(' ')}\` was running: it was stopped, and how far it got is unknown (check its effect before retrying); the next command starts a new one`,
    );
    this.command = command;
  }
}

export interface PipelineStage {
  file: string;
  args: readonly string[];
}

export interface PipelineOptions extends Bounds {
  /** Characters kept of the last stage's stdout (its end); default MAX_CAPTURE. */
  maxStdout?: number | undefined;
  /** Characters kept of each stage's stderr (its end); default MAX_CAPTURE. */
  maxStderr?: number | undefined;
  /**
   * Average rate limit in bytes/s between the first two stages. The stream then flows through
   * the spawner process (still never through this one); without it the kernel moves it.
   */
  bytesPerSec?: number | undefined;
}

/**
 * One path's lstat(2): the inode number and mode (enough to tell a directory, a symlink, a
 * subvolume root), or the error lstat gave (its `code`: ENOENT, ENOTDIR, EACCES, ELOOP…).
 */
export type PathStat =
  | { ino: number; mode: number; error?: undefined }
  | { error: NodeJS.ErrnoException };

/** How one stage of a pipeline ended. */
export interface StageResult {
  command: readonly string[];
  pid: number | undefined;
  /** undefined when killed by a signal or never started. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** The last stage's stdout (its end); '' for the others. */
  stdout: string;
  stderr: string;
  /** Why the stage could not start (ENOENT, EACCES), when it could not. */
  spawnError: Error | undefined;
}

export interface PipelineResult {
  stages: StageResult[];
  timedOut: boolean;
  /** Stopped by abort or kill() while a stage still ran. */
  canceled: boolean;
  /** Bytes passed from the first stage to the second when rate-limited. */
  bytes: number | undefined;
}

export interface RunningPipeline {
  /** Each stage's pid as soon as the processes exist (undefined: could not start). */
  pids: Promise<(number | undefined)[]>;
  /** One per stage, in order; each settles as soon as its process has ended. */
  exits: Promise<StageResult>[];
  /** Every stage ended. Each of these rejects with SpawnerExitedError if the spawner died. */
  done: Promise<PipelineResult>;
  /** SIGTERM to every stage still running (downstream first), SIGKILL after the delay. */
  kill(): void;
}

interface Pending {
  command: readonly string[];
  child: ChildProcess;
  /** Its processes, once started (pid and start time). */
  processes: { pid: number; started: string }[];
  /** Handles a reply; true once the request is finished. */
  reply(message: Reply): boolean;
  reject(error: Error): void;
}

/** A promise with its settle functions, already handled so an unread rejection is not fatal. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function stageResult(command: readonly string[], message: StageMessage): StageResult {
  return {
    command,
    pid: message.pid ?? undefined,
    exitCode: message.exitCode ?? undefined,
    signal: (message.signal ?? undefined) as NodeJS.Signals | undefined,
    stdout: message.stdout,
    stderr: message.stderr,
    spawnError: message.spawnError
      ? Object.assign(new Error(message.spawnError.message), { code: message.spawnError.code })
      : undefined,
  };
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

// A small heap keeps the spawner's own forks cheap; its work is a few strings per command, so
// it needs no JIT (--jitless; WebAssembly off with it, silently) and one V8 helper thread:
// RSS ~44 MB instead of ~51 MB after 200 short commands, at the same CPU per command.
const HEAP = [
  '--max-old-space-size=64',
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--jitless',
  '--no-expose-wasm',
  '--v8-pool-size=1',
];

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
      const onAbort = () => this.#kill(child, id);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => options.signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        command,
        child,
        processes: [],
        reply: (reply) => {
          if (reply.type !== 'done') return false;
          settle();
          resolve(commandResult(command, reply));
          return true;
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

  pipeline(stages: readonly PipelineStage[], options: PipelineOptions): RunningPipeline {
    if (options.bytesPerSec !== undefined && !(options.bytesPerSec > 0)) {
      throw new RangeError(`bandwidth limit must be > 0 bytes/s, got ${options.bytesPerSec}`);
    }
    const commands = stages.map((stage) => [stage.file, ...stage.args]);
    const whole = commands.flatMap((command, index) => (index === 0 ? command : ['|', ...command]));
    const pids = deferred<(number | undefined)[]>();
    const exits = stages.map(() => deferred<StageResult>());
    const done = deferred<PipelineResult>();
    const running: RunningPipeline = {
      pids: pids.promise,
      exits: exits.map((exit) => exit.promise),
      done: done.promise,
      kill: () => {},
    };
    if (options.signal?.aborted) {
      const results = commands.map((command): StageResult => {
        const { exitCode, signal, stdout, stderr, spawnError } = notRun(command);
        return { command, pid: undefined, exitCode, signal, stdout, stderr, spawnError };
      });
      pids.resolve(results.map(() => undefined));
      for (const [index, exit] of exits.entries()) exit.resolve(results[index]!);
      done.resolve({ stages: results, timedOut: false, canceled: true, bytes: undefined });
      return running;
    }
    const child = this.#ensure();
    const id = this.#nextId++;
    const message: PipelineMessage = {
      type: 'pipeline',
      id,
      stages: stages.map((stage) => ({ file: stage.file, args: [...stage.args] })),
      env: environment(options.env),
      timeoutMs: options.timeoutMs ?? 0,
      forceKillAfterMs: options.forceKillAfterMs ?? 2000,
      maxStdout: options.maxStdout ?? MAX_CAPTURE,
      maxStderr: options.maxStderr ?? MAX_CAPTURE,
      bytesPerSec: options.bytesPerSec ?? null,
    };
    const onAbort = () => this.#kill(child, id);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => options.signal?.removeEventListener('abort', onAbort);
    const results: StageResult[] = [];
    this.#pending.set(id, {
      command: whole,
      child,
      processes: [],
      reply: (reply) => {
        if (reply.type === 'started') {
          pids.resolve(reply.pids.map((pid) => pid ?? undefined));
        } else if (reply.type === 'stage') {
          const result = stageResult(commands[reply.index]!, reply);
          results[reply.index] = result;
          exits[reply.index]?.resolve(result);
        } else if (reply.type === 'ended') {
          settle();
          done.resolve(pipelineResult(results, reply));
          return true;
        }
        return false;
      },
      reject: (error) => {
        settle();
        pids.reject(error);
        for (const exit of exits) exit.reject(error);
        done.reject(error);
      },
    });
    running.kill = onAbort;
    this.#hold(true);
    child.send(message);
    return running;
  }

  lstat(paths: readonly string[]): Promise<PathStat[]> {
    if (paths.length === 0) return Promise.resolve([]);
    const child = this.#ensure();
    const id = this.#nextId++;
    const message: LstatMessage = { type: 'lstat', id, paths: [...paths] };
    return new Promise<PathStat[]>((resolve, reject) => {
      this.#pending.set(id, {
        command: ['lstat', `(${paths.length} paths)`],
        child,
        processes: [],
        reply: (reply) => {
          if (reply.type !== 'lstats') return false;
          resolve(
            reply.entries.map((entry): PathStat => {
              if ('ino' in entry) return entry;
              const error: NodeJS.ErrnoException = new Error(entry.message);
              if (entry.code !== null) error.code = entry.code;
              return { error };
            }),
          );
          return true;
        },
        reject,
      });
      this.#hold(true);
      child.send(message);
    });
  }

  #kill(child: ChildProcess, id: number): void {
    if (child.connected && this.#pending.has(id)) child.send({ type: 'kill', id });
  }

  #ensure(): ChildProcess {
    if (this.#child?.connected) return this.#child;
    const { path, execArgv } = childModule();
    const child = fork(path, [], {
      execArgv: [...execArgv, ...HEAP],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child.on('message', (message: Reply) => this.#reply(message));
    let failed = false;
    const failPending = (code: number | null, signal: NodeJS.Signals | null) => {
      if (failed) return;
      failed = true;
      const how = signal ? `was killed (${signal})` : `exited (code ${code})`;
      for (const [id, pending] of this.#pending) {
        if (pending.child !== child) continue;
        this.#pending.delete(id);
        // Killed -9 (the OOM killer, an operator), it could not stop them: its commands would
        // go on as orphans, a send or a sync still writing while their caller hears they failed.
        void stopOrphans(pending.processes).finally(() =>
          pending.reject(new SpawnerExitedError(pending.command, how)),
        );
      }
    };
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      // 'close' follows once the channel is read to its end, so that a pid the spawner sent
      // just before it died is known; a fork that failed may have no channel to close.
      setTimeout(() => failPending(code, signal), 1000).unref();
    });
    child.once('close', failPending);
    // A failed fork (EAGAIN, ENOMEM) also ends in 'exit'; nothing more to do here.
    child.on('error', () => {});
    this.#child = child;
    this.#hold(false);
    return child;
  }

  #reply(message: Reply): void {
    const pending = this.#pending.get(message.id);
    if (pending && message.type === 'started') {
      for (const [index, pid] of message.pids.entries()) {
        const started = message.starts[index];
        if (pid !== null && started != null) pending.processes.push({ pid, started });
      }
    }
    if (!pending?.reply(message)) return;
    this.#pending.delete(message.id);
    if (this.#pending.size === 0) this.#hold(false);
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

/** SIGKILL to each of `processes` still running (the same process: pid and start time). */
async function stopOrphans(processes: readonly { pid: number; started: string }[]): Promise<void> {
  await Promise.all(
    processes.map(({ pid, started }) => signalIfSame(pid, started, 'SIGKILL').catch(() => false)),
  );
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

function commandResult(command: readonly string[], message: DoneMessage): CommandResult {
  return {
    command,
    exitCode: message.exitCode ?? undefined,
    signal: (message.signal ?? undefined) as NodeJS.Signals | undefined,
    stdout: message.stdout,
    stderr: message.stderr,
    timedOut: message.timedOut,
    canceled: message.canceled,
    spawnError: message.spawnError
      ? Object.assign(new Error(message.spawnError.message), { code: message.spawnError.code })
      : undefined,
  };
}

function pipelineResult(stages: StageResult[], message: EndedMessage): PipelineResult {
  return {
    stages,
    timedOut: message.timedOut,
    canceled: message.canceled,
    bytes: message.bytes ?? undefined,
  };
}

function notRun(command: readonly string[], how = { canceled: true }): CommandResult {
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

/**
 * Starts `a | b | …` from the spawner process: each stage's stdout is the next one's stdin,
 * connected child to child, so the stream never passes through this process (nor, without
 * `bytesPerSec`, through the spawner). Reports the pids as soon as they exist (for progress
 * from /proc/<pid>/io) and each stage's outcome as it ends; stops them all on timeout, abort
 * or kill(), and when this process dies.
 */
export function startPipeline(
  stages: readonly PipelineStage[],
  options: PipelineOptions = {},
): RunningPipeline {
  return spawner.pipeline(stages, options);
}

/**
 * lstat(2) of each path, made by the spawner process: a purge's 2,000 pre-checks cost this
 * process one message each way instead of 2,000 thread-pool round trips, their callbacks and
 * their garbage, which delayed Docker's calls. An entry per path, in order; rejects only with
 * SpawnerExitedError (or the error of a fork that could not start).
 */
export function lstatPaths(paths: readonly string[]): Promise<PathStat[]> {
  return spawner.lstat(paths);
}

/** The spawner's pid, when it runs (for tests and the soak bench's RSS figures). */
export function spawnerPid(): number | undefined {
  return spawner.pid;
}

/** Ends the spawner (it is started again by the next command). */
export function stopSpawner(): void {
  spawner.stop();
}
