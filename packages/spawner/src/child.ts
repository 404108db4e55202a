// The spawner process: started once by the daemon (node:child_process fork, small heap), it
// starts the commands the daemon asks for and answers with how each ended. Kept tiny on
// purpose: its own fork() of each command copies its page tables, which is what makes this
// cheaper than forking the daemon itself (see client.ts).
//
// Why node:child_process and not execa inside: each command pays execa's per-call set-up
// (~2 ms, bench/btrfs.ts in @buttervolume/btrfs) on top of the fork, and execa's module graph
// would grow this process; what is needed here (a timeout, SIGTERM then SIGKILL, output tails)
// is a few lines. Arguments are still arrays; no shell.
import { type ChildProcess, spawn } from 'node:child_process';
import type { DoneMessage, Request, RunMessage } from './protocol.js';
import { Tail } from './tail.js';

interface Running {
  child: ChildProcess;
  stop(reason: 'timeout' | 'cancel'): void;
}

const running = new Map<number, Running>();

function send(message: DoneMessage): void {
  process.send?.(message);
}

function start(request: RunMessage): void {
  let timedOut = false;
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  let spawnError: DoneMessage['spawnError'] = null;
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
  running.set(request.id, { child, stop });
}

process.on('message', (message: Request) => {
  if (message.type === 'run') start(message);
  else running.get(message.id)?.stop('cancel');
});

// The daemon went away (exit, crash): nobody will read the results, stop what still runs.
process.once('disconnect', () => {
  for (const { child } of running.values()) child.kill('SIGKILL');
  process.exit(0);
});
