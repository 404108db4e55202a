// A real daemon (`node dist/bin.js run`) on a real loop-mounted btrfs, in temp paths only.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ButtervolumeClient, DaemonUnavailableError } from '@buttervolume/api';
import { createLoopBtrfs, type LoopBtrfs } from '@buttervolume/test-utils';
import { execa } from 'execa';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');

export interface DaemonFixture {
  fs: LoopBtrfs;
  env: Record<string, string>;
  volumesPath: string;
  snapshotsPath: string;
  socket: string;
  client: ButtervolumeClient;
  /** The daemon's process id. */
  pid: number;
  /** Runs the built CLI with the fixture's environment; never throws on a non-zero exit. */
  cli(args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Every entry of the volumes and snapshots folders, to prove that nothing was created. */
  listing(): Promise<string[]>;
  stop(): Promise<void>;
}

function launch(
  env: Record<string, string>,
  file = 'node',
  args: readonly string[] = [BIN, 'run'],
) {
  return execa(file, args, { env, reject: false, all: true });
}

type DaemonProcess = ReturnType<typeof launch>;

/**
 * `env` adds to or overrides the daemon's and the CLI's environment (e.g. a short TIMER);
 * `command` starts the daemon another way than `node dist/bin.js run` (a launcher).
 */
export async function startDaemonFixture(
  options: { env?: Record<string, string>; command?: readonly [string, ...string[]] } = {},
): Promise<DaemonFixture> {
  const fs = await createLoopBtrfs({ sizeMiB: 256 });
  let child: DaemonProcess | undefined;
  try {
    const volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.dir, 'run');
    await Promise.all([mkdir(volumesPath), mkdir(snapshotsPath), mkdir(runPath)]);
    const socket = join(runPath, `bv-${randomBytes(4).toString('hex')}.sock`);
    const env = {
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_SOCKET: socket,
      BUTTERVOLUME_SCHEDULE: join(runPath, 'schedule.csv'),
      BUTTERVOLUME_CONFIG_FILE: join(fs.dir, 'absent-config.ini'),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      ...options.env,
    };
    const [file, ...args] = options.command ?? ['node', BIN, 'run'];
    const started = launch(env, file, args);
    child = started;
    const client = new ButtervolumeClient({ socketPath: socket, timeoutMs: 10_000 });
    await waitUntilServing(client, started);
    const stop = async () => {
      started.kill('SIGTERM');
      const result = await started;
      if (result.exitCode !== 0 && result.signal !== 'SIGTERM') {
        throw new Error(`daemon exited with ${result.exitCode}: ${result.all}`);
      }
    };
    return {
      fs,
      env,
      volumesPath,
      snapshotsPath,
      socket,
      client,
      pid: started.pid!,
      async cli(args) {
        const result = await execa('node', [BIN, ...args], { env, reject: false });
        return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
      },
      async listing() {
        const [volumes, snapshots] = await Promise.all([
          readdir(volumesPath),
          readdir(snapshotsPath),
        ]);
        return [
          ...volumes.map((v) => `volumes/${v}`),
          ...snapshots.map((s) => `snapshots/${s}`),
        ].sort();
      },
      async stop() {
        try {
          await stop();
        } finally {
          await fs.cleanup();
        }
      },
    };
  } catch (error) {
    child?.kill('SIGKILL');
    await child?.catch(() => {});
    await fs.cleanup();
    throw error;
  }
}

async function waitUntilServing(client: ButtervolumeClient, child: DaemonProcess): Promise<void> {
  let exited = false;
  void child.finally(() => {
    exited = true;
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (exited) {
      const result = await child;
      throw new Error(`the daemon exited before serving (${result.exitCode}): ${result.all}`);
    }
    try {
      await client.activate();
      return;
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      await sleep(100);
    }
  }
  throw new Error('the daemon did not start serving within 10 s');
}
