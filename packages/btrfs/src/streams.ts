import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ExecaError, execa } from 'execa';
import { AbortedError } from './errors.js';
import { parseReceived } from './parse.js';
import { COMMAND_ENV, classifyFailure, failureOf } from './run.js';
import { COMPRESSED_SEND_ARGS } from './send-features.js';
import type { ReceiveProcess, SendProcess } from './types.js';

// After SIGTERM, a btrfs process stuck in the kernel gets this long before SIGKILL.
const FORCE_KILL_AFTER_MS = 5_000;
// Large enough to keep the pipe busy between consumer reads; btrfs streams are MiB-sized.
const STREAM_HIGH_WATER_MARK = 1 << 20;

function toBtrfsError(error: unknown, command: readonly string[], path: string): unknown {
  if (!(error instanceof ExecaError)) return error;
  const failure = failureOf(error, command);
  if (error.isCanceled) return new AbortedError(path, failure);
  return classifyFailure(failure, path);
}

// Nobody is forced to await `done` (e.g. a caller that only aborts): keep a rejection
// from crashing the process as unhandled, while still handing the same promise out.
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Starts `btrfs send [protocol 2] [-p parent] -- snapshot`; the caller reads `stream`. */
export function startSend(
  btrfsPath: string,
  snapshot: string,
  parent: string | undefined,
  compressedData = false,
): SendProcess {
  const args = [
    'send',
    ...(compressedData ? COMPRESSED_SEND_ARGS : []),
    ...(parent === undefined ? [] : ['-p', parent]),
    '--',
    snapshot,
  ];
  const command = [btrfsPath, ...args];
  const controller = new AbortController();
  const subprocess = execa(btrfsPath, args, {
    stdin: 'ignore',
    // The stream is the caller's: never buffer it in memory.
    buffer: { stdout: false },
    env: COMMAND_ENV,
    cancelSignal: controller.signal,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
  });
  // Our own PassThrough, piped at once: execa would otherwise start draining an unread stdout
  // on the next tick, losing data for a caller that attaches after an await.
  const stream = new PassThrough({ highWaterMark: STREAM_HIGH_WATER_MARK });
  subprocess.stdout.pipe(stream);
  // A consumer that gives up (destroys the stream) must not leave btrfs blocked on a full pipe.
  stream.once('close', () => {
    if (!stream.readableEnded) controller.abort();
  });
  const done = handled(
    subprocess.then(
      () => undefined,
      (error: unknown) => {
        throw toBtrfsError(error, command, snapshot);
      },
    ),
  );
  return { stream, done, abort: () => controller.abort() };
}

/** Starts `btrfs receive -- dir`; the caller writes a send stream into `stream`. */
export function startReceive(btrfsPath: string, dir: string): ReceiveProcess {
  const args = ['receive', '--', dir];
  const command = [btrfsPath, ...args];
  const controller = new AbortController();
  const subprocess = execa(btrfsPath, args, {
    stdin: 'pipe',
    env: COMMAND_ENV,
    cancelSignal: controller.signal,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
  });
  const stream = new PassThrough({ highWaterMark: STREAM_HIGH_WATER_MARK });
  stream.pipe(subprocess.stdin);
  // btrfs receive exiting early makes further writes fail with EPIPE; `done` says why it exited.
  subprocess.stdin.on('error', () => {});
  // A writer that gives up (destroys the stream mid-way) must not leave receive waiting for
  // more input forever.
  stream.once('close', () => {
    if (!stream.readableEnded) controller.abort();
  });
  const done = handled(
    subprocess.then(
      ({ stdout, stderr }) => {
        // btrfs-progs 6.2 prints "At subvol" to stderr but "At snapshot" to stdout.
        const received = parseReceived(`${stderr}\n${stdout}`);
        return { received, path: received === undefined ? undefined : join(dir, received) };
      },
      (error: unknown): never => {
        // Unblock a writer waiting on backpressure: nobody reads this stream any more.
        stream.destroy();
        throw toBtrfsError(error, command, dir);
      },
    ),
  );
  return { stream, done, abort: () => controller.abort() };
}
