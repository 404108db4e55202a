import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import {
  createServer,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { Btrfs, isBtrfs } from '@buttervolume/btrfs';
import { type Config, loadConfig } from '@buttervolume/config';
import { Replicator, type SshOptions } from '@buttervolume/replication';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp } from './app.js';
import { DaemonStartError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { createScheduling, type Scheduling, type SchedulingOptions } from './scheduling.js';
import { RESTORE_STEPS, type RestoreStep } from './services/context.js';
import { createServices, type Services } from './services/index.js';
import { Layout } from './services/layout.js';
import { VolumeLocks } from './services/locks.js';
import { MountTable } from './services/mounts.js';
import { ReplicationService } from './services/replication.js';

export interface DaemonOptions {
  logger?: Logger;
  btrfs?: Btrfs;
  /** Where Docker's mount IDs are kept across restarts (default `<RUNPATH>/buttervolume/mounts.json`). */
  mountStatePath?: string;
  /** Test hook: called after each restore step (crash tests kill the process there). */
  afterRestoreStep?: (step: RestoreStep) => Promise<void> | void;
  version?: string;
  /** The clock for snapshot names and purge ages (tests pin it). */
  now?: () => Date;
  /** The scheduler's replication handle, and its timing for tests. */
  scheduling?: SchedulingOptions;
  /** Overrides the config's ssh settings (SSH_PORT, SSH_USER, SSH_IDENTITY_FILE, …) field by field. */
  ssh?: SshOptions;
}

export interface Daemon {
  socketPath: string;
  app: Hono;
  services: Services;
  scheduling: Scheduling;
  /** Stops accepting connections, lets in-flight requests finish, removes the socket. */
  close(): Promise<void>;
}

const SOCKET_MODE = 0o660;

export interface DaemonApp {
  app: Hono;
  services: Services;
  logger: Logger;
  /** Not started: startDaemon starts it once the socket listens. */
  scheduling: Scheduling;
  replication: ReplicationService;
}

/**
 * Everything but the socket: checks the folders, loads the mount table, finishes interrupted
 * restores and builds the app. startDaemon serves it; tests and the bench call app.request().
 */
export async function createDaemonApp(
  config: Config,
  options: DaemonOptions = {},
): Promise<DaemonApp> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  await requireBtrfsFolder('VOLUMES_PATH', config.volumesPath, logger);
  await requireBtrfsFolder('SNAPSHOTS_PATH', config.snapshotsPath, logger);

  const mounts = await MountTable.load(
    options.mountStatePath ?? join(config.runPath, 'buttervolume', 'mounts.json'),
    logger,
  );
  const services = createServices({
    btrfs: options.btrfs ?? new Btrfs(),
    layout: new Layout(config.volumesPath, config.snapshotsPath),
    locks: new VolumeLocks(),
    mounts,
    logger,
    dtFormat: config.dtFormat,
    now: options.now ?? (() => new Date()),
    afterRestoreStep: options.afterRestoreStep,
  });
  for (const outcome of await services.restore.recover())
    logger.warn('restore recovery', { outcome });

  const replication = new ReplicationService(
    services.context,
    services.snapshots,
    new Replicator({
      btrfs: services.context.btrfs,
      snapshotsPath: config.snapshotsPath,
      volumesPath: config.volumesPath,
      timestampFormat: config.dtFormat,
      ssh: { ...sshOptionsOf(config), ...options.ssh },
    }),
    {
      compress: config.sshCompression,
      ...(config.sshBandwidthLimit === undefined
        ? {}
        : { bandwidthLimit: config.sshBandwidthLimit }),
    },
  );
  const scheduling = createScheduling(
    config,
    { services, logger },
    {
      // The synchronize job snapshots and locks the volume itself, then only needs the rsync.
      replication: {
        send: (snapshot, host, opts) => replication.send(snapshot, host, opts),
        sync: (volume, hosts, options) => replication.syncLocked(volume, hosts, options),
      },
      ...options.scheduling,
    },
  );
  const app = createApp({
    services,
    logger,
    dtFormat: config.dtFormat,
    ...(options.version === undefined ? {} : { version: options.version }),
    scheduling,
    replication,
  });
  return { app, services, logger, scheduling, replication };
}

/** The ssh settings of the config (SSH_PORT, SSH_USER, SSH_IDENTITY_FILE, …) for the Replicator. */
export function sshOptionsOf(config: Config): SshOptions {
  return {
    user: config.sshUser,
    ...(config.sshPort === undefined ? {} : { port: config.sshPort }),
    ...(config.sshIdentityFile === undefined ? {} : { identityFile: config.sshIdentityFile }),
    ...(config.sshKnownHostsFile === undefined ? {} : { knownHostsFile: config.sshKnownHostsFile }),
    ...(config.sshStrictHostKeyChecking === undefined
      ? {}
      : { strictHostKeyChecking: config.sshStrictHostKeyChecking }),
    ...(config.sshOptions.length === 0 ? {} : { extraOptions: config.sshOptions }),
  };
}

/**
 * Checks the folders, finishes interrupted restores, then serves the API on the unix socket.
 * Refuses to start (DaemonStartError) rather than run half-configured.
 */
export async function startDaemon(config: Config, options: DaemonOptions = {}): Promise<Daemon> {
  const { app, services, logger, scheduling, replication } = await createDaemonApp(config, options);
  const socketPath = config.socket;
  await claimSocket(socketPath);
  const server = createAdaptorServer({
    fetch: app.fetch,
    createServer: unixSocketServer as typeof createServer,
  }) as Server;
  await listen(server, socketPath);
  logger.info('listening', {
    socket: socketPath,
    volumes: config.volumesPath,
    snapshots: config.snapshotsPath,
    pid: process.pid,
  });

  // Docker's first Get of each volume then finds its answer cached (see VolumeService.warm).
  const warmUp = new AbortController();
  const warming = services.volumes
    .warm({ signal: warmUp.signal })
    .then((count) => logger.debug('status cache warmed', { volumes: count }))
    .catch((error: unknown) => logger.warn('status cache warm-up failed', { error }));

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      warmUp.abort();
      // No job starts from now on; running ones get the grace period, in parallel with requests.
      const schedulerStopped = scheduling.scheduler.stop({ graceMs: scheduling.stopGraceMs });
      // Docker keeps connections alive: once closing, answer with "Connection: close" and drop
      // connections as soon as they go idle, so shutdown waits only for requests in flight.
      server.on('request', (_req, res: ServerResponse) => res.setHeader('Connection', 'close'));
      const reaper = setInterval(() => server.closeIdleConnections(), 20);
      try {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } finally {
        clearInterval(reaper);
      }
      await schedulerStopped;
      await warming;
      // A background listing holds the filesystem open: let it end before we report stopped.
      await services.volumes.settled();
      await replication.close();
      await rm(socketPath, { force: true });
      logger.info('stopped', { socket: socketPath });
    })();
    return closing;
  };
  scheduling.scheduler.start();
  return { socketPath, app, services, scheduling, close };
}

/**
 * `buttervolume run`: config from the environment and config.ini, logs on stderr, graceful
 * shutdown on SIGTERM/SIGINT. Resolves once the daemon has stopped.
 */
export async function runDaemon(options: DaemonOptions = {}): Promise<void> {
  const config = loadConfig();
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const daemon = await startDaemon(config, {
    ...options,
    logger,
    ...crashHookFromEnv(options.afterRestoreStep),
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info('shutting down: waiting for requests in flight', { signal });
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      daemon.close().then(resolve, (error: unknown) => {
        logger.error('shutdown failed', { error });
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

// Crash tests set BUTTERVOLUME_TEST_CRASH_AFTER=<restore step>: the daemon kills itself with
// SIGKILL right after that step, exactly like an OOM kill or a power cut of the process.
function crashHookFromEnv(
  given: DaemonOptions['afterRestoreStep'],
): Pick<DaemonOptions, 'afterRestoreStep'> {
  const step = process.env.BUTTERVOLUME_TEST_CRASH_AFTER;
  if (step === undefined || step === '') return given ? { afterRestoreStep: given } : {};
  if (!(RESTORE_STEPS as readonly string[]).includes(step)) {
    throw new DaemonStartError(
      `BUTTERVOLUME_TEST_CRASH_AFTER=${step} is not a restore step (${RESTORE_STEPS.join(', ')})`,
    );
  }
  return {
    afterRestoreStep: async (current) => {
      await given?.(current);
      if (current === step) process.kill(process.pid, 'SIGKILL');
    },
  };
}

async function requireBtrfsFolder(variable: string, path: string, logger: Logger): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  const fix = `create it on a btrfs filesystem (e.g. "mkdir -p ${path}" on a btrfs mount, or run "buttervolume init"), or set BUTTERVOLUME_${variable} to a folder on btrfs`;
  if (!stats) {
    // A fresh btrfs mount (a new managed plugin, a new disk) lacks only the last level: create
    // that one, never a whole tree, which would land on the root filesystem under a failed mount.
    const parent = dirname(path);
    const parentStats = await lstat(parent).catch(() => undefined);
    if (parentStats?.isDirectory() && (await isBtrfs(parent))) {
      await mkdir(path);
      logger.info('created folder', { variable, path });
      return;
    }
    throw new DaemonStartError(`${variable} ${path} does not exist: ${fix}`);
  }
  if (!stats.isDirectory())
    throw new DaemonStartError(`${variable} ${path} is not a folder: ${fix}`);
  if (!(await isBtrfs(path))) {
    throw new DaemonStartError(`${variable} ${path} is not on a btrfs filesystem: ${fix}`);
  }
}

/**
 * A socket file left by a daemon that died is removed; one a live daemon answers on is not:
 * two daemons on the same folders would race each other's snapshots and restores.
 */
async function claimSocket(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  const stats = await lstat(socketPath).catch(() => undefined);
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new DaemonStartError(
      `${socketPath} exists and is not a socket: move it away or set BUTTERVOLUME_SOCKET to another path`,
    );
  }
  const answer = await probe(socketPath);
  if (answer === 'live') {
    throw new DaemonStartError(
      `another daemon is already listening on ${socketPath}: stop it first (e.g. "systemctl stop buttervolume"), or set BUTTERVOLUME_SOCKET to another path`,
    );
  }
  await rm(socketPath, { force: true });
}

function probe(socketPath: string): Promise<'live' | 'stale'> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve('stale');
      else
        reject(
          new DaemonStartError(`cannot check ${socketPath}: ${error.message}`, { cause: error }),
        );
    });
  });
}

async function listen(server: Server, socketPath: string): Promise<void> {
  // The umask closes the window between bind() and chmod() in which others could connect.
  const previous = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  await chmod(socketPath, SOCKET_MODE);
}

/**
 * Docker's plugin client sends the socket path as the Host header (`/run/docker/plugins/…`),
 * which is no valid URL authority: @hono/node-server would answer an empty 400 before our app
 * sees the request. On a unix socket the Host header means nothing, so it is normalised.
 */
function unixSocketServer(options: ServerOptions, listener: RequestListener): Server {
  return createServer(options, (req, res) => {
    req.headers.host = 'localhost';
    listener(req, res);
  });
}
