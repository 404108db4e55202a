// The spawner process: started once by the daemon (node:child_process fork, small heap), it
// starts the commands the daemon asks for and answers with how each ended; it also makes the
// daemon's bulk lstat() calls (a purge's 2,000 pre-checks), off the daemon's event loop. Kept
// tiny on purpose: its own fork() of each command copies its page tables, which is what makes
// this cheaper than forking the daemon itself (see client.ts).
//
// Why node:child_process and not execa inside: each command pays execa's per-call set-up
// (~2 ms, bench/btrfs.ts in @buttervolume/btrfs) on top of the fork, and execa's module graph
// would grow this process; what is needed here (a timeout, SIGTERM then SIGKILL, output tails)
// is a few lines. Arguments are still arrays; no shell.
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { releaseOutputAfterExit } from './output-grace.js';
import { startTimeSync } from './proc.js';
import type {
  LstatEntry,
  LstatMessage,
  PipelineMessage,
  Reply,
  Request,
  RunMessage,
  StageMessage,
} from './protocol.js';
import { Tail } from './tail.js';
import { Throttle } from './throttle.js';

interface Running {
  children: ChildProcess[];
  stop(reason: 'timeout' | 'cancel'): void;
}

const running = new Map<number, Running>();

function send(message: Reply): void {
  process.send?.(message);
}

function ended(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Tells the daemon which processes run for request `id` (see StartedMessage). */
function started(id: number, children: readonly ChildProcess[]): void {
  const pids = children.map((child) => child.pid ?? null);
  const starts = pids.map((pid) => (pid === null ? null : (startTimeSync(pid) ?? null)));
  send({ type: 'started', id, pids, starts });
}

function spawnErrorOf(error: NodeJS.ErrnoException | undefined): StageMessage['spawnError'] {
  return error ? { code: error.code, message: error.message } : null;
}

function start(request: RunMessage): void {
  let timedOut = false;
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  let spawnError: StageMessage['spawnError'] = null;
  const stdout = new Tail(request.maxStdout ?? Number.POSITIVE_INFINITY);
  const stderr = new Tail(request.maxStderr);
  const child = spawn(request.file, request.args, {
    stdio: [request.input === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: request.env,
  });
  if (request.input !== null) {
    // A command that exits without reading all of it closes the pipe: not our failure.
    child.stdin?.on('error', () => {});
    child.stdin?.end(request.input);
  }
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => stdout.push(chunk));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => stderr.push(chunk));
  const stop = (reason: 'timeout' | 'cancel') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (reason === 'timeout') timedOut = true;
    else canceled = true;
    child.kill('SIGTERM');
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), request.forceKillAfterMs);
  };
  const timeout =
    request.timeoutMs > 0 ? setTimeout(() => stop('timeout'), request.timeoutMs) : undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    spawnError = { code: error.code, message: error.message };
  });
  releaseOutputAfterExit(child);
  child.once('close', (code, signal) => {
    clearTimeout(timeout);
    clearTimeout(killTimer);
    running.delete(request.id);
    send({
      type: 'done',
      id: request.id,
      pid: child.pid,
      exitCode: spawnError ? null : code,
      signal,
      stdout: stdout.text(),
      stderr: stderr.text(),
      timedOut,
      canceled,
      spawnError,
    });
  });
  running.set(request.id, { children: [child], stop });
  started(request.id, [child]);
}

/**
 * Starts `a | b | …`. Spawned from the end backwards: each stage gets the already-open stdin
 * of the next one as its stdout, so the data goes from process to process through the kernel,
 * never through this one. Never the other way round: Node starts reading a child's stdout as
 * soon as it wraps it, and whatever it read would be missing from the stream.
 */
function startPipeline(request: PipelineMessage): void {
  const { stages } = request;
  const throttled = request.bytesPerSec !== null && stages.length > 1;
  const children: ChildProcess[] = [];
  let next: ChildProcess | undefined;
  for (let index = stages.length - 1; index >= 0; index--) {
    const stage = stages[index]!;
    // The first stage's stdout comes here when the stream is held back on its way.
    const direct = throttled && index === 0 ? 'pipe' : next?.stdin;
    const stdio: StdioOptions = [index === 0 ? 'ignore' : 'pipe', direct ?? 'pipe', 'pipe'];
    const child = spawn(stage.file, stage.args, { stdio, env: request.env });
    // ssh over the shared connection: its master holds the stdio (see releaseOutputAfterExit).
    releaseOutputAfterExit(child, { keepStdout: throttled && index === 0 });
    children.unshift(child);
    next = child;
  }
  // The children hold their own copies now. destroy() closes ours without shutdown(): the
  // stdio pipes are socketpairs, and shutting ours down would cut the children's link too.
  for (const [index, child] of children.entries()) {
    if (!(throttled && index === 1)) child.stdin?.destroy();
  }
  let throttle: Throttle | undefined;
  if (throttled) {
    const [first, second] = children as [ChildProcess, ChildProcess];
    throttle = new Throttle(request.bytesPerSec!);
    // EPIPE: the second stage ended early; its exit says why. The first one then gets EPIPE.
    second.stdin?.on('error', () => {});
    pipeline(first.stdout!, throttle, second.stdin!).catch(() => first.stdout?.destroy());
  }

  let timedOut = false;
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (reason: 'timeout' | 'cancel') => {
    if (reason === 'timeout') timedOut ||= children.some((child) => !ended(child));
    else canceled ||= children.some((child) => !ended(child));
    // Downstream first: a consumer killed after its producer could read a clean EOF and
    // exit 0 as if the (truncated) stream were whole.
    for (const child of [...children].reverse()) if (!ended(child)) child.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      for (const child of children) if (!ended(child)) child.kill('SIGKILL');
    }, request.forceKillAfterMs);
  };
  const timeout =
    request.timeoutMs > 0 ? setTimeout(() => stop('timeout'), request.timeoutMs) : undefined;
  running.set(request.id, { children, stop });
  started(request.id, children);

  const last = children.length - 1;
  const outcomes = children.map(
    (child, index) =>
      new Promise<void>((resolve) => {
        const stderr = new Tail(request.maxStderr);
        const stdout = new Tail(request.maxStdout);
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (chunk: string) => stderr.push(chunk));
        if (index === last) {
          child.stdout?.setEncoding('utf8');
          child.stdout?.on('data', (chunk: string) => stdout.push(chunk));
        }
        let spawnError: NodeJS.ErrnoException | undefined;
        let reported = false;
        const report = (exitCode: number | null, signal: string | null) => {
          if (reported) return;
          reported = true;
          send({
            type: 'stage',
            id: request.id,
            index,
            pid: child.pid ?? null,
            exitCode: spawnError ? null : exitCode,
            signal,
            stdout: stdout.text(),
            stderr: stderr.text(),
            spawnError: spawnErrorOf(spawnError),
          });
          resolve();
        };
        child.once('error', (error: NodeJS.ErrnoException) => {
          spawnError = error;
          // A process that never started emits no 'close' when it has no stdio to close.
          if (child.pid === undefined) report(null, null);
        });
        child.once('close', (code, signal) => report(code, signal));
      }),
  );
  void Promise.all(outcomes).then(() => {
    clearTimeout(timeout);
    clearTimeout(killTimer);
    running.delete(request.id);
    send({ type: 'ended', id: request.id, timedOut, canceled, bytes: throttle?.bytes ?? null });
  });
}

/** How long lstat calls run back to back before the other messages get their turn. */
const LSTAT_SLICE_MS = 2;

function lstatEntry(path: string): LstatEntry {
  try {
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats !== undefined) return { ino: stats.ino, mode: stats.mode };
    return { code: 'ENOENT', message: `ENOENT: no such file or directory, lstat '${path}'` };
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { code: code ?? null, message };
  }
}

/**
 * Answers one LstatMessage. Synchronous calls, in slices: an lstat of a cached inode takes
 * microseconds, while 2,000 promises through the thread pool, interpreted (--jitless), took
 * 155-330 ms. An inode read from disk delays the commands asked meanwhile by one read at most.
 */
async function lstatAll(request: LstatMessage): Promise<void> {
  const entries: LstatEntry[] = [];
  let sliceStart = performance.now();
  for (const path of request.paths) {
    entries.push(lstatEntry(path));
    if (performance.now() - sliceStart > LSTAT_SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  send({ type: 'lstats', id: request.id, entries });
}

process.on('message', (message: Request) => {
  if (message.type === 'run') start(message);
  else if (message.type === 'pipeline') startPipeline(message);
  else if (message.type === 'lstat') void lstatAll(message);
  else running.get(message.id)?.stop('cancel');
});

// The daemon went away (exit, crash): nobody will read the results, stop what still runs.
process.once('disconnect', () => {
  for (const { children } of running.values()) {
    for (const child of children) child.kill('SIGKILL');
  }
  process.exit(0);
});
