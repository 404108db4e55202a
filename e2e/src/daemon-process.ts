import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { requireBuiltCli } from './paths.js';

/** `buttervolume run` as its own process, configured only through BUTTERVOLUME_* variables. */
export interface DaemonProcess {
  pid: number;
  /** The log file receiving the daemon's stdout and stderr (appended across restarts). */
  logFile: string;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves once the process is gone. Idempotent. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  logs(): Promise<string>;
}

export interface DaemonProcessOptions {
  env: Record<string, string>;
  socketPath: string;
  logFile: string;
  startTimeoutMs?: number;
}

export async function spawnDaemon(options: DaemonProcessOptions): Promise<DaemonProcess> {
  const bin = requireBuiltCli();
  const child = execa(process.execPath, [bin, 'run'], {
    // Only what the daemon needs: never the machine's /etc/buttervolume or DOCKER_HOST.
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
    extendEnv: false,
    stdin: 'ignore',
    // Appended: a restarted daemon keeps the log of the one it replaced.
    stdout: { file: options.logFile, append: true },
    stderr: { file: options.logFile, append: true },
    reject: false,
  });
  const pid = child.pid;
  const logs = () => readFile(options.logFile, 'utf8').catch(() => '');
  if (pid === undefined) throw new Error(`could not spawn ${bin} run: ${await logs()}`);

  let exited = false;
  void child.then(() => {
    exited = true;
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill(signal);
        const timedOut = await Promise.race([
          child.then(() => false),
          sleep(10_000).then(() => true),
        ]);
        if (timedOut) child.kill('SIGKILL');
      }
      await child;
    })();
    return stopping;
  };
  liveDaemons.add(pid);
  void child.then(() => liveDaemons.delete(pid));
  installExitHook();

  const deadline = performance.now() + (options.startTimeoutMs ?? 20_000);
  while (!(await answers(options.socketPath))) {
    if (exited || performance.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(
        `buttervolume run did not answer on ${options.socketPath} (${exited ? 'it exited' : 'timed out'}); its log:\n${await logs()}`,
      );
    }
    await sleep(50);
  }
  return { pid, logFile: options.logFile, stop, logs };
}

// A worker that dies without its afterAll must not leave a daemon holding the loop mount busy.
const liveDaemons = new Set<number>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const pid of liveDaemons) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
}

/** True once the socket answers Docker's handshake with an HTTP 200. */
export function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath, path: '/Plugin.Activate', method: 'POST', timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
