import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

// Why node:child_process and not execa here: the point is to hand one process's pipe straight
// to the next, and execa tracks every stream it is given (closing our copy of the pipe, which
// we must do, reads to it as a failed subprocess). Arguments are still arrays; no shell.

/** How one process of the pipeline ended. */
export interface Exit {
  /** null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The last stage's stdout when `captureStdout` was asked for (its end), else ''. */
  stdout: string;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export interface PipelineStage {
  command: string;
  args: readonly string[];
}

export interface RunningPipeline {
  /** One per stage, in order; each settles once its process has ended and stderr is read. */
  exits: Promise<Exit>[];
  pids: (number | undefined)[];
  /** SIGTERM to every stage still running. */
  kill(): void;
}

// stderr is for the error message: keep the end, where the reason is.
const MAX_STDERR = 16 * 1024;
// The last stage's stdout carries a status word, not data.
const MAX_STDOUT = 4 * 1024;

export interface PipelineOptions {
  /** Collect the last stage's stdout (default: discarded). */
  captureStdout?: boolean;
}

/**
 * Starts `a | b | c` with the kernel moving the data: each stage's stdout is the next one's
 * stdin, and this process holds no end of those pipes once they are spawned, so a stage that
 * dies makes its writer fail with EPIPE as in a shell pipeline. The last stage's stdout is
 * discarded unless `captureStdout`; every stderr is collected.
 */
export function startPipeline(
  stages: readonly PipelineStage[],
  env: NodeJS.ProcessEnv,
  options: PipelineOptions = {},
): RunningPipeline {
  // Spawned from the end backwards: each stage gets the already-open stdin of the next one.
  // Never the other way round: Node starts reading a child's stdout as soon as it wraps it, and
  // whatever it read would be missing from the stream.
  const children: ChildProcess[] = [];
  let next: ChildProcess | undefined;
  for (let index = stages.length - 1; index >= 0; index--) {
    const stage = stages[index]!;
    const child = spawn(stage.command, [...stage.args], {
      stdio: [
        index === 0 ? 'ignore' : 'pipe',
        next?.stdin ?? (options.captureStdout ? 'pipe' : 'ignore'),
        'pipe',
      ],
      env,
    });
    children.unshift(child);
    next = child;
  }
  // The children hold their own copies now. destroy() closes ours without shutdown(): the
  // stdio pipes are socketpairs, and shutting ours down would cut the children's link too.
  for (const child of children) child.stdin?.destroy();
  return {
    exits: children.map(exited),
    pids: children.map((child) => child.pid),
    kill: () => {
      // Downstream first: a consumer killed after its producer could read a clean EOF and
      // exit 0 as if the (truncated) stream were whole.
      for (const child of [...children].reverse()) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
    },
  };
}

function exited(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_STDERR);
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-MAX_STDOUT);
    });
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
      // A process that never started emits no 'close' when it has no stdio to close.
      if (child.pid === undefined) {
        resolve({ code: null, signal: null, stderr, stdout, spawnError });
      }
    });
    child.once('close', (code, signal) => {
      resolve({ code, signal, stderr, stdout, ...(spawnError ? { spawnError } : {}) });
    });
  });
}

/**
 * Bytes the main thread of a process has written so far (`wchar` of
 * /proc/<pid>/task/<pid>/io), or undefined once it is gone. Reading it costs one small file
 * read; nothing is copied through this process. The main thread's own counter, not the whole
 * process's: `btrfs send` runs the send ioctl there, the kernel writing the stream into an
 * internal pipe that a second thread copies to stdout, so the process total counts each byte
 * twice.
 */
export async function bytesWritten(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/io`, 'utf8');
    const match = /^wchar:\s*(\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined; // the process has ended
    throw error;
  }
}

/** The byte count from `dd`'s closing statistics ("1234 bytes (1.2 kB, …) copied, …"). */
export function ddBytes(stderr: string): number | undefined {
  const match = /^(\d+) bytes?\b.*copied/m.exec(stderr);
  return match ? Number(match[1]) : undefined;
}
