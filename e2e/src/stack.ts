import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createLoopBtrfs,
  type Dockerd,
  type DockerResult,
  type LoopBtrfs,
  type RegisteredPlugin,
  registerVolumePlugin,
  startDockerd,
  uniquePluginName,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { type DaemonProcess, spawnDaemon } from './daemon-process.js';
import { requireBuiltCli } from './paths.js';

/**
 * Everything a Docker user of buttervolume has: a btrfs filesystem (a loop image), the daemon
 * (`buttervolume run`) on its socket, a private dockerd that knows the daemon as a legacy
 * volume plugin under a unique driver name, a busybox image, and the CLI.
 */
export interface Stack {
  fs: LoopBtrfs;
  volumesPath: string;
  snapshotsPath: string;
  runPath: string;
  socketPath: string;
  dockerd: Dockerd;
  /** The driver name for `docker volume create -d` / `volume-driver=`. */
  driver: string;
  /** A local busybox image tag (never pulled). */
  image: string;
  daemon: DaemonProcess;
  /** The daemon's environment, for a restart on the same socket. */
  daemonEnv: Record<string, string>;
  docker(
    args: readonly string[],
    options?: { reject?: boolean; input?: string },
  ): Promise<DockerResult>;
  /** Runs `buttervolume <args>` against this daemon. */
  cli(args: readonly string[]): Promise<DockerResult>;
  /** `docker <args>`'s stdout, or an error carrying the daemon's and dockerd's logs. */
  dockerOk(args: readonly string[]): Promise<string>;
  /** `buttervolume <args>`'s stdout, or an error carrying the logs. */
  cliOk(args: readonly string[]): Promise<string>;
  /** `docker run --rm --network none -v <volume>:/data <busybox> sh -c <script>`. */
  runArgs(volume: string, script: string): string[];
  /** Kills (or stops) the daemon and starts a new one on the same socket and folders. */
  restartDaemon(signal?: 'SIGTERM' | 'SIGKILL'): Promise<DaemonProcess>;
  /** Subvolumes and stray entries in the volumes and snapshots folders. */
  listing(): Promise<{ volumes: string[]; snapshots: string[] }>;
  /** Everything (logs) worth printing when an assertion fails. */
  diagnostics(): Promise<string>;
  /** Stops dockerd, the daemon, removes the plugin spec and the loop filesystem. Idempotent. */
  cleanup(): Promise<void>;
}

export interface StackOptions {
  sizeMiB?: number;
  /**
   * RUNPATH (the socket, mounts.json, schedule.csv) in a tmpfs, as /run is on a Docker host,
   * instead of beside the loop image on this machine's disk (where every write waits behind
   * the image's own writes): what the benches measure.
   */
  runPathInMemory?: boolean;
}

/** A tmpfs every Linux has. */
const IN_MEMORY = '/dev/shm';

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  requireBuiltCli();
  const cleanups: Array<() => Promise<void>> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    // Reverse order: dockerd lets go of the volumes (Unmount) before the daemon and the
    // filesystem under them go away.
    cleaning ??= (async () => {
      const errors: unknown[] = [];
      for (const step of cleanups.reverse()) await step().catch((error) => errors.push(error));
      if (errors.length > 0) throw new AggregateError(errors, 'e2e stack cleanup failed');
    })();
    return cleaning;
  };

  try {
    const fs = await createLoopBtrfs({ sizeMiB: options.sizeMiB ?? 1024 });
    cleanups.push(() => fs.cleanup());
    const volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    let runPath = join(fs.dir, 'run');
    if (options.runPathInMemory) {
      runPath = await mkdtemp(join(IN_MEMORY, 'bv-run-'));
      cleanups.push(() => rm(runPath, { recursive: true, force: true }));
    } else await mkdir(runPath);
    await Promise.all([volumesPath, snapshotsPath].map((dir) => mkdir(dir)));
    const socketPath = join(runPath, `bv-${randomBytes(4).toString('hex')}.sock`);
    const daemonEnv: Record<string, string> = {
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_SOCKET: socketPath,
      BUTTERVOLUME_SCHEDULE: join(runPath, 'schedule.csv'),
      // A file that does not exist: the machine's /etc/buttervolume/config.ini is never read.
      BUTTERVOLUME_CONFIG_FILE: join(runPath, 'no-config.ini'),
      BUTTERVOLUME_LOGLEVEL: 'DEBUG',
      // The private dockerd starts after the daemon: this link to its socket is made then.
      BUTTERVOLUME_DOCKER_SOCKET: join(runPath, 'docker.sock'),
    };
    const logFile = join(fs.dir, 'daemon.log');

    let daemon = await spawnDaemon({ env: daemonEnv, socketPath, logFile });
    cleanups.push(() => daemon.stop());

    const plugin: RegisteredPlugin = await registerVolumePlugin(
      uniquePluginName('bv-e2e'),
      socketPath,
    );
    cleanups.push(() => plugin.unregister());

    const dockerd = await startDockerd();
    cleanups.push(() => dockerd.stop());
    const image = await dockerd.importBusybox();
    await symlink(dockerd.socketPath, join(runPath, 'docker.sock'));

    const stack: Stack = {
      fs,
      volumesPath,
      snapshotsPath,
      runPath,
      socketPath,
      dockerd,
      driver: plugin.driver,
      image,
      get daemon() {
        return daemon;
      },
      daemonEnv,
      docker: (args, callOptions) => dockerd.docker(args, callOptions),
      async cli(args) {
        const result = await execa(process.execPath, [requireBuiltCli(), ...args], {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            BUTTERVOLUME_SOCKET: socketPath,
            BUTTERVOLUME_CONFIG_FILE: join(runPath, 'no-config.ini'),
          },
          extendEnv: false,
          reject: false,
        });
        return {
          stdout: String(result.stdout),
          stderr: String(result.stderr),
          exitCode: result.exitCode ?? -1,
        };
      },
      dockerOk: (args) => succeeded('docker', args, stack.docker(args), stack),
      cliOk: (args) => succeeded('buttervolume', args, stack.cli(args), stack),
      runArgs: (volume, script) => [
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        `${volume}:/data`,
        image,
        'sh',
        '-c',
        script,
      ],
      async restartDaemon(signal = 'SIGKILL') {
        await daemon.stop(signal);
        daemon = await spawnDaemon({ env: daemonEnv, socketPath, logFile });
        return daemon;
      },
      listing: async () => ({
        volumes: (await readdir(volumesPath)).sort(),
        snapshots: (await readdir(snapshotsPath)).sort(),
      }),
      async diagnostics() {
        return `--- daemon log ---\n${tail(await daemon.logs())}\n--- dockerd log ---\n${tail(await dockerd.logs())}`;
      },
      cleanup,
    };
    return stack;
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }
}

/** Fails with the daemon's and dockerd's logs attached, so a red test says why. */
async function succeeded(
  command: string,
  args: readonly string[],
  run: Promise<DockerResult>,
  stack: Stack,
): Promise<string> {
  const result = await run;
  if (result.exitCode !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}\n${await stack.diagnostics()}`,
    );
  }
  return result.stdout.trim();
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
