// The built daemon in its own process, as `buttervolume run` starts it, for the benches.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { type Caller, overSocket } from '../test/integration/helpers.js';

export const DAEMON = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface BuiltDaemon {
  pid: number;
  call: Caller;
  rssMiB(): Promise<number>;
  stop(): Promise<void>;
}

/** `node dist/main.js` configured by environment only, answering on its socket. */
export async function spawnBuilt(
  env: Record<string, string>,
  daemon = DAEMON,
): Promise<BuiltDaemon> {
  if (!existsSync(daemon)) throw new Error(`${daemon} is missing: run pnpm build first`);
  const socket = env.BUTTERVOLUME_SOCKET!;
  const child = execa(process.execPath, [daemon], {
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
    rssMiB: async () => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await child;
      clearTimeout(timer);
    },
  };
}
