// The built daemon in its own process, as `buttervolume run` starts it, for the benches.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { type Caller, overSocket } from '../test/integration/helpers.js';

export const DAEMON = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** The CLI as installed: executed itself, so its first line's Node flags apply. */
export const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

export interface BuiltDaemon {
  pid: number;
  call: Caller;
  rssMiB(): Promise<number>;
  /** The resident memory of each child process (the spawner), by pid. */
  childrenRssMiB(): Promise<Map<number, number>>;
  stop(): Promise<void>;
}

/** CPU time (user + system, ms) a process has used: what load affects less than latency. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ 100)
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
