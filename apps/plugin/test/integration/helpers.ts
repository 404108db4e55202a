import { randomBytes } from 'node:crypto';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
} from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '@buttervolume/config';
import { createLoopBtrfs, type HostB, type LoopBtrfs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { expect } from 'vitest';
import {
  createDaemonApp,
  type DaemonApp,
  type DaemonOptions,
  silentLogger,
} from '../../src/index.js';

export type Json = Record<string, unknown>;

export interface Fixture {
  fs: LoopBtrfs;
  config: Config;
  volumesPath: string;
  snapshotsPath: string;
  /** The config's run folder, off the loop mount. */
  runPath: string;
  /** Everything on the loop mount, to prove a request changed nothing. */
  listing(): Promise<{ volumes: string[]; snapshots: string[] }>;
  cleanup(): Promise<void>;
}

/** A loop btrfs with the two folders, and a config pointing at it (socket and run dir inside). */
export async function createFixture(sizeMiB = 512): Promise<Fixture> {
  const fs = await createLoopBtrfs({ sizeMiB });
  try {
    const volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.dir, 'run');
    await mkdir(volumesPath);
    await mkdir(snapshotsPath);
    await mkdir(runPath);
    const config = configFor(volumesPath, snapshotsPath, runPath);
    return {
      fs,
      config,
      volumesPath,
      snapshotsPath,
      runPath,
      listing: async () => ({
        volumes: (await readdir(volumesPath)).sort(),
        snapshots: (await readdir(snapshotsPath)).sort(),
      }),
      cleanup: () => fs.cleanup(),
    };
  } catch (error) {
    await fs.cleanup();
    throw error;
  }
}

export function configFor(volumesPath: string, snapshotsPath: string, runPath: string): Config {
  return loadConfig({
    env: {
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_SOCKET: join(runPath, `bv-${randomBytes(4).toString('hex')}.sock`),
      BUTTERVOLUME_SCHEDULE: join(runPath, 'schedule.csv'),
    },
    iniPath: join(runPath, 'no-such-config.ini'),
  });
}

export async function inProcess(
  config: Config,
  options: DaemonOptions = {},
): Promise<DaemonApp & { call: Caller }> {
  const daemon = await createDaemonApp(config, { logger: silentLogger, ...options });
  const call: Caller = async (path, body, method = 'POST') => {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await daemon.app.request(path, init);
    return { status: res.status, json: (await res.json()) as Json };
  };
  return { ...daemon, call };
}

export type Caller = (
  path: string,
  body?: unknown,
  method?: 'GET' | 'POST',
) => Promise<{ status: number; json: Json }>;

/** Creates volume `name` holding `sizeMiB` MiB of random data and answers a snapshot of it. */
export async function snapshotOfNewVolume(
  call: Caller,
  volumesPath: string,
  name: string,
  sizeMiB: number,
): Promise<string> {
  expect((await call('/VolumeDriver.Create', { Name: name })).json.Err).toBe('');
  for (let i = 0; i < sizeMiB; i++) {
    await appendFile(join(volumesPath, name, 'data'), randomBytes(1024 * 1024));
  }
  const { json } = await call('/VolumeDriver.Snapshot', { Name: name });
  expect(json.Err).toBe('');
  return json.Snapshot as string;
}

/** The same calls over a real unix socket, as Docker and the CLI make them. */
export function overSocket(socketPath: string): Caller {
  return (path, body, method = 'POST') =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      const req = httpRequest(
        {
          socketPath,
          path,
          method,
          headers: {
            'Content-Type': 'application/vnd.docker.plugins.v1.2+json',
            'Content-Length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                json: JSON.parse(Buffer.concat(chunks).toString()) as Json,
              });
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}

export function suffix(): string {
  return randomBytes(4).toString('hex');
}

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface DaemonProcess {
  call: Caller;
  pid: number;
  /** What the daemon wrote on stderr so far (its JSON log lines). */
  stderr(): string;
  /** SIGTERM, then waits for it to exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and waits for it to be gone; its child processes are left alone. */
  crash(): Promise<void>;
}

/**
 * A real daemon process (`src/main.ts`, what `buttervolume run` starts) configured only by
 * `env` (nothing inherited but PATH), serving on BUTTERVOLUME_SOCKET.
 */
export async function spawnDaemon(
  env: Record<string, string>,
  options: { uid?: number; gid?: number; preload?: string; nodeFlags?: string[] } = {},
): Promise<DaemonProcess> {
  const socket = env.BUTTERVOLUME_SOCKET;
  if (socket === undefined) throw new Error('spawnDaemon needs BUTTERVOLUME_SOCKET');
  const { preload, nodeFlags = [], ...ids } = options;
  const preloads = preload === undefined ? [] : ['--import', preload];
  const child = execa(process.execPath, [...nodeFlags, '--import', 'tsx', ...preloads, MAIN], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    extendEnv: false,
    reject: false,
    ...ids,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await child;
    clearTimeout(timer);
  };
  try {
    // Up to 60 s: starting node with tsx took over 20 s at a load of 24 (CI with benches).
    for (let attempt = 0; ; attempt++) {
      if (child.exitCode !== null || attempt > 1200) {
        throw new Error(`the daemon did not listen on ${socket}: ${stderr}`);
      }
      if (await listening(socket)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const crash = async () => {
    child.kill('SIGKILL');
    await child;
  };
  if (child.pid === undefined) throw new Error('the daemon did not start');
  return { call: overSocket(socket), pid: child.pid, stderr: () => stderr, stop, crash };
}

function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface ForeignMountFixture {
  /** The process holding the mount namespace. */
  pid: number;
  /** Where `source` is bind-mounted, as that namespace sees it. */
  mountPoint: string;
  /** Ends the namespace (and with it the mount). Safe to call more than once. */
  release(): Promise<void>;
}

/**
 * Bind-mounts `source` in a new mount namespace, as a container runtime does with a volume: the
 * mount is invisible in ours, only /proc/<pid>/mountinfo shows it.
 */
export async function mountInOtherNamespace(source: string): Promise<ForeignMountFixture> {
  const mountPoint = await mkdtemp(join(tmpdir(), 'bv-ns-'));
  const holder = execa('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', '600'], {
    reject: false,
  });
  const release = async () => {
    holder.kill('SIGKILL');
    await holder;
    await rm(mountPoint, { recursive: true, force: true });
  };
  try {
    const pid = holder.pid;
    if (pid === undefined) throw new Error('unshare did not start');
    const own = await readlink('/proc/self/ns/mnt');
    for (let attempt = 0; ; attempt++) {
      const theirs = await readlink(`/proc/${pid}/ns/mnt`).catch(() => own);
      if (theirs !== own) break;
      if (attempt > 400) throw new Error('unshare did not make a mount namespace');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await execa('nsenter', ['-t', String(pid), '-m', '--', 'mount', '--bind', source, mountPoint]);
    return { pid, mountPoint, release };
  } catch (error) {
    await release();
    throw error;
  }
}

/** The environment of a daemon process serving `fx` (its folders, socket and schedule). */
export function daemonEnvOf(fx: Fixture): Record<string, string> {
  return {
    BUTTERVOLUME_VOLUMES_PATH: fx.volumesPath,
    BUTTERVOLUME_SNAPSHOTS_PATH: fx.snapshotsPath,
    BUTTERVOLUME_RUNPATH: fx.config.runPath,
    BUTTERVOLUME_SOCKET: fx.config.socket,
    BUTTERVOLUME_SCHEDULE: fx.config.schedule,
    BUTTERVOLUME_CONFIG_FILE: join(fx.config.runPath, 'no-config.ini'),
  };
}

/** A read-only snapshot made with btrfs itself (old-dated ones for purges to delete). */
export async function readOnlySnapshot(source: string, target: string): Promise<void> {
  await execa('btrfs', ['subvolume', 'snapshot', '-r', '--', source, target]);
}

/** Pids of B's `rsync --server` processes: those in B's network namespace, no one else's. */
export async function peerRsyncs(b: HostB): Promise<number[]> {
  const netns = `net:[${(await stat(join('/run/netns', b.netns))).ino}]`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (cmdline[0] !== 'rsync' || !cmdline.includes('--server')) continue;
      if ((await readlink(`/proc/${entry}/ns/net`)) === netns) pids.push(Number(entry));
    } catch (error) {
      // Ended meanwhile: gone from /proc (ENOENT), or its files no longer readable (ESRCH).
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH') throw error;
    }
  }
  return pids;
}
