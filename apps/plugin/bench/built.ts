// The built daemon in its own process, as `buttervolume run` starts it, for the benches.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { processCpuMs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { type Caller, type Json, overSocket } from '../test/integration/helpers.js';

export const DAEMON = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** CPU time (user + system, ms) a process has used. */
export const cpuMs = processCpuMs;

/** The CLI as installed: executed itself, so its first line's Node flags apply. */
export const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

/**
 * How `buttervolume run` starts the daemon: the environment assignments and Node flags of the
 * CLI's first line (their one home), so a bench of the daemon from source measures what
 * production runs. `bin` names another build's bin.js to compare.
 */
export async function daemonLaunch(
  bin = CLI,
): Promise<{ env: Record<string, string>; nodeFlags: string[] }> {
  const first = (await readFile(bin, 'utf8')).split('\n', 1)[0] ?? '';
  const words = first.replace(/^#!\S*env -S /, '').split(/\s+/);
  const env: Record<string, string> = {};
  for (const word of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1]!] = assignment[2]!;
  }
  return { env, nodeFlags: words.filter((word) => word.startsWith('--')) };
}

export interface BuiltDaemon {
  pid: number;
  call: Caller;
  rssMiB(): Promise<number>;
  /** The resident memory of each child process (the spawner), by pid. */
  childrenRssMiB(): Promise<Map<number, number>>;
  stop(): Promise<void>;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

/**
 * `node dist/main.js`, or a CLI's `bin.js run` executed itself, configured by environment only,
 * answering on its socket.
 */
export async function spawnBuilt(
  env: Record<string, string>,
  daemon = DAEMON,
): Promise<BuiltDaemon> {
  if (!existsSync(daemon)) throw new Error(`${daemon} is missing: run pnpm build first`);
  const socket = env.BUTTERVOLUME_SOCKET!;
  const [file, args] = daemon.endsWith('bin.js') ? [daemon, ['run']] : [process.execPath, [daemon]];
  const child = execa(file, args, {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const call = overSocket(socket);
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null || attempt > 600) {
      child.kill('SIGKILL');
      throw new Error(`the daemon did not answer on ${socket}: ${stderr}`);
    }
    if (
      await call('/VolumeDriver.Capabilities').then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(50);
  }
  return {
    pid: child.pid!,
    call,
    rssMiB: () => rssMiB(child.pid!),
    childrenRssMiB: async () => {
      const pids = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8'))
        .split(' ')
        .filter(Boolean)
        .map(Number);
      return new Map(await Promise.all(pids.map(async (p) => [p, await rssMiB(p)] as const)));
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await child;
      clearTimeout(timer);
    },
  };
}

/**
 * Calls on one kept-alive connection with the least client work there is (a request line,
 * three headers, the body read by its Content-Length), as Docker's Go client keeps its
 * connection to a plugin: what it times is the socket and the daemon, not Node's http client,
 * which adds 0.2 to 0.5 ms of its own CPU per call. One call at a time.
 */
export function keptAlive(socketPath: string): { call: Caller; close(): void } {
  const socket = connect(socketPath);
  let received: Buffer = Buffer.alloc(0);
  let waiting:
    | { resolve(answer: { status: number; json: Json }): void; reject(error: Error): void }
    | undefined;
  const fail = (error: Error) => {
    waiting?.reject(error);
    waiting = undefined;
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error(`${socketPath}: the daemon closed the connection`)));
  socket.on('data', (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = received.subarray(0, end).toString('latin1');
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    if (length === undefined) return fail(new Error(`no Content-Length in the answer: ${head}`));
    const bodyEnd = end + 4 + Number(length);
    if (received.length < bodyEnd) return;
    const body = received.subarray(end + 4, bodyEnd).toString();
    received = received.subarray(bodyEnd);
    const answer = { status: Number(head.split(' ', 2)[1]), json: JSON.parse(body) as Json };
    const pending = waiting;
    waiting = undefined;
    pending?.resolve(answer);
  });
  const call: Caller = (path, body, method = 'POST') =>
    new Promise((resolve, reject) => {
      if (waiting) throw new Error('keptAlive: one call at a time');
      waiting = { resolve, reject };
      const payload =
        body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
    });
  return { call, close: () => socket.destroy() };
}
