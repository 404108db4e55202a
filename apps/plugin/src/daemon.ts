import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { type Config, loadConfig } from '@buttervolume/config';
import { DockerClient } from '@buttervolume/docker';
import { Replicator, type SshOptions, sshSettings } from '@buttervolume/replication';
import type { Hono } from 'hono';
import { createApp } from './app.js';
import { DaemonStartError } from './errors.js';
import { requireBtrfsFolder } from './folders.js';
import { createLogger, type Logger } from './log.js';
import { DaemonMetrics } from './metrics.js';
import { type MetricsListener, serveMetrics } from './metrics-listener.js';
import { createScheduling, type Scheduling, type SchedulingOptions } from './scheduling.js';
import { Attention } from './services/attention.js';
import { RESTORE_STEPS, type RestoreStep, type ServiceBtrfs } from './services/context.js';
import type { GroupStep } from './services/groups.js';
import { HealthService } from './services/health.js';
import { createServices, type Services } from './services/index.js';
import { Layout } from './services/layout.js';
import { VolumeLocks } from './services/locks.js';
import { MountTable } from './services/mounts.js';
import { NestedSubvolumes } from './services/nested.js';
import { dockerMountProbe, localNode, sshPeerLink } from './services/peers.js';
import { ReplicaService } from './services/replicas.js';
import { ReplicationService } from './services/replication.js';
import { removeSocket, serveSocket } from './socket.js';

export interface DaemonOptions {
  logger?: Logger;
  btrfs?: ServiceBtrfs;
  /** Where Docker's mount IDs are kept across restarts (default `<RUNPATH>/buttervolume/mounts.json`). */
  mountStatePath?: string;
  /** Test hook: called after each restore step (crash tests kill the process there). */
  afterRestoreStep?: (step: RestoreStep) => Promise<void> | void;
  version?: string;
  /** The clock for snapshot names and purge ages (tests pin it). */
  now?: () => Date;
  /** The scheduler's replication handle, and its timing for tests. */
  scheduling?: SchedulingOptions;
  /** Test hook: called once a group snapshot has paused its containers (crash tests kill here). */
  afterGroupStep?: (step: GroupStep) => Promise<void> | void;
  /** Overrides the config's ssh settings (SSH_PORT, SSH_USER, SSH_IDENTITY_FILE, …) field by field. */
  ssh?: SshOptions;
}

export interface Daemon {
  socketPath: string;
  app: Hono;
  services: Services;
  scheduling: Scheduling;
  health: HealthService;
  metrics: DaemonMetrics;
  /** `host:port` of the METRICS_ADDRESS listener, when one is configured. */
  metricsAddress: string | undefined;
  /** Stops accepting connections, lets in-flight requests finish, removes the socket. */
  close(): Promise<void>;
}

export interface DaemonApp {
  app: Hono;
  services: Services;
  logger: Logger;
  /** Not started: startDaemon starts it once the socket listens. */
  scheduling: Scheduling;
  replication: ReplicationService;
  health: HealthService;
  metrics: DaemonMetrics;
  /** The Engine API clients (closed by startDaemon's close()). */
  dockers: DockerClient[];
  replicas: ReplicaService;
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

  const metrics = new DaemonMetrics();
  const mounts = await MountTable.load(
    options.mountStatePath ?? join(config.runPath, 'buttervolume', 'mounts.json'),
    logger,
  );
  const btrfs = options.btrfs ?? new Btrfs();
  const layout = new Layout(config.volumesPath, config.snapshotsPath);
  const docker = new DockerClient({ socketPath: config.dockerSocket });
  const services = createServices(
    {
      btrfs,
      layout,
      locks: new VolumeLocks(),
      mounts,
      attention: new Attention(),
      nested: new NestedSubvolumes(layout.volumesPath, btrfs, logger),
      logger,
      dtFormat: config.dtFormat,
      now: options.now ?? (() => new Date()),
      afterRestoreStep: options.afterRestoreStep,
      observe: metrics.observeOperation,
    },
    {
      docker,
      pauseJournalPath: join(config.runPath, 'buttervolume', 'paused.json'),
      hookTimeoutMs: config.hookTimeoutSeconds * 1000,
      afterGroupStep: options.afterGroupStep,
    },
  );
  for (const outcome of await services.restore.recover())
    logger.warn('restore recovery', { outcome });
  // Containers a killed daemon left paused are unpaused before anything else happens.
  for (const outcome of await services.groups
    .recover()
    .catch((error: unknown) => [`could not read the pause journal: ${(error as Error).message}`]))
    logger.warn('pause recovery', { outcome });

  const replicator = new Replicator({
    btrfs: services.context.btrfs,
    snapshotsPath: config.snapshotsPath,
    volumesPath: config.volumesPath,
    timestampFormat: config.dtFormat,
    ssh: { ...sshOptionsOf(config), ...options.ssh },
  });
  const replication = new ReplicationService(
    services.context,
    services.snapshots,
    replicator,
    {
      compress: config.sshCompression,
      ...(config.sshBandwidthLimit === undefined
        ? {}
        : { bandwidthLimit: config.sshBandwidthLimit }),
    },
    {
      // Last-send facts live with the scheduler's state, so they survive a restart.
      onSend: (record) => {
        const outcome = record.ok
          ? {
              ok: true as const,
              bytes: record.bytes,
              incremental: record.incremental,
              durationMs: record.durationMs,
            }
          : { ok: false as const, error: record.error };
        scheduling.scheduler.recordSend(record.volume, record.host, outcome).catch((error) => {
          logger.error('cannot record the send', {
            volume: record.volume,
            host: record.host,
            error,
          });
        });
      },
    },
  );
  // Its own client: a Mount must not wait 30 s on Docker (closed with the daemon's).
  const probeDocker = new DockerClient({ socketPath: config.dockerSocket, requestTimeoutMs: 5000 });
  const replicas = createReplicas(config, services, replication, replicator, probeDocker, logger);
  services.replicas = replicas;
  const scheduling = createScheduling(
    config,
    { services, logger },
    {
      // The synchronize job snapshots and locks the volume itself, then only needs the rsync.
      replication: {
        send: (snapshot, host, opts) => replication.send(snapshot, host, opts),
        sync: (volume, hosts, options) => replication.syncLocked(volume, hosts, options),
      },
      onJobFinished: (job, outcome) => metrics.jobFinished(job.action.kind, outcome),
      ...options.scheduling,
    },
  );
  // A daemon killed while it rewrote schedule.csv (or its state file) left a temp file.
  const leftovers = await scheduling.store.removeLeftovers().catch((error: unknown) => {
    logger.warn('could not remove the temp files of an interrupted schedule write', { error });
    return [];
  });
  if (leftovers.length > 0)
    logger.warn('removed temp files of an interrupted schedule write', { leftovers });
  const health = new HealthService(services, scheduling.scheduler, services.context.now);
  metrics.attach({
    report: () => health.verdicts(),
    transfers: () => replication.transfers().length,
  });
  const app = createApp({
    services,
    logger,
    dtFormat: config.dtFormat,
    ...(options.version === undefined ? {} : { version: options.version }),
    scheduling,
    replication,
    health,
    metrics,
    groups: services.groups,
  });
  const dockers = [docker, probeDocker];
  return { app, services, logger, scheduling, replication, health, metrics, dockers, replicas };
}

/** Replicated volumes: peers over the same ssh settings as sends, Docker for the copy-up probe. */
function createReplicas(
  config: Config,
  services: Services,
  replication: ReplicationService,
  replicator: Replicator,
  docker: DockerClient,
  logger: Logger,
): ReplicaService {
  return new ReplicaService(
    services.context,
    services.volumes,
    services.snapshots,
    (snapshot, host) => replication.send(snapshot, host),
    sshPeerLink({
      ssh: sshSettings(sshOptionsOf(config)),
      sshFor: (host) => replicator.sharedSsh(host),
      command: [config.peerCommand],
      viewTimeoutMs: 15_000,
      handOverTimeoutMs: (config.handOverWaitSeconds + 600) * 1000,
      format: config.dtFormat,
      forward: {
        socket: config.socket,
        open: (host, socket, options) => replicator.forwardSocket(host, socket, options),
        logger,
      },
    }),
    localNode(config.nodeName),
    dockerMountProbe(docker, logger),
    {
      handOverWaitMs: config.handOverWaitSeconds * 1000,
      refuseCreate: !config.replicatedVolumes,
    },
  );
}

/** The ssh settings of the config (SSH_PORT, SSH_USER, SSH_IDENTITY_FILE, …) for the Replicator. */
export function sshOptionsOf(config: Config): SshOptions {
  return {
    user: config.sshUser,
    commandTimeoutSec: config.sshCommandTimeoutSeconds,
    stallTimeoutSec: config.transferStallTimeoutSeconds,
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
  const { app, services, logger, scheduling, replication, health, metrics, dockers, replicas } =
    await createDaemonApp(config, options);
  const socketPath = config.socket;
  // Before the socket: a METRICS_ADDRESS we cannot bind stops the start with nothing to undo.
  let metricsListener: MetricsListener | undefined;
  if (config.metricsAddress) {
    // Configured metrics count from the start (unconfigured ones load on the first scrape).
    await metrics.load();
    metricsListener = await serveMetrics(metrics, config.metricsAddress, logger);
    logger.info('serving metrics', { address: metricsListener.address });
  }
  let server: Awaited<ReturnType<typeof serveSocket>>;
  try {
    server = await serveSocket(app, socketPath);
  } catch (error) {
    await metricsListener?.close();
    throw error;
  }
  logger.info('listening', {
    socket: socketPath,
    volumes: config.volumesPath,
    snapshots: config.snapshotsPath,
    pid: process.pid,
  });

  // Docker's first Get of each volume then finds its answer cached (see VolumeStatusCache.warm).
  const warmUp = new AbortController();
  const warming = services.status
    .warm({ signal: warmUp.signal })
    .then((count) => logger.debug('status cache warmed', { volumes: count }))
    .catch((error: unknown) => logger.warn('status cache warm-up failed', { error }));

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      warmUp.abort();
      replicas.stop();
      // No job starts from now on; running ones get the grace period, in parallel with requests.
      const schedulerStopped = scheduling.scheduler.stop({ graceMs: scheduling.stopGraceMs });
      await Promise.all([server.close(), metricsListener?.close()]);
      await schedulerStopped;
      await warming;
      // A background listing holds the filesystem open: let it end before we report stopped.
      await services.status.settled();
      await services.context.nested.settled();
      await replication.close();
      await Promise.all(dockers.map((client) => client.close()));
      await removeSocket(socketPath);
      logger.info('stopped', { socket: socketPath });
    })();
    return closing;
  };
  scheduling.scheduler.start();
  replicas.start(config.replicationPeriodSeconds * 1000);
  return {
    socketPath,
    app,
    services,
    scheduling,
    health,
    metrics,
    metricsAddress: metricsListener?.address,
    close,
  };
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
): Pick<DaemonOptions, 'afterRestoreStep' | 'afterGroupStep'> {
  const step = process.env.BUTTERVOLUME_TEST_CRASH_AFTER;
  if (step === undefined || step === '') return given ? { afterRestoreStep: given } : {};
  if (step === 'group-paused') {
    return {
      ...(given ? { afterRestoreStep: given } : {}),
      afterGroupStep: () => {
        process.kill(process.pid, 'SIGKILL');
      },
    };
  }
  if (!(RESTORE_STEPS as readonly string[]).includes(step)) {
    throw new DaemonStartError(
      `BUTTERVOLUME_TEST_CRASH_AFTER=${step} is not a restore step (${RESTORE_STEPS.join(', ')}) nor group-paused`,
    );
  }
  return {
    afterRestoreStep: async (current) => {
      await given?.(current);
      if (current === step) process.kill(process.pid, 'SIGKILL');
    },
  };
}
