import type { ServiceContext } from './context.js';
import { type DockerPort, GroupSnapshotService, type GroupStep } from './groups.js';
import { PauseJournal } from './pause-journal.js';
import type { ReplicaService } from './replicas.js';
import { RestoreService } from './restore.js';
import { SnapshotService } from './snapshots.js';
import { VolumeList } from './volume-list.js';
import { VolumeStatusCache } from './volume-status.js';
import { VolumeService } from './volumes.js';

/** The daemon's logic, free of HTTP: what the routes (and the scheduler) call. */
export interface Services {
  volumes: VolumeService;
  snapshots: SnapshotService;
  restore: RestoreService;
  /** Get's cache of volume facts; the daemon warms it after a start. */
  status: VolumeStatusCache;
  groups: GroupSnapshotService;
  context: ServiceContext;
  /** VOLUMES_PATH. */
  volumesPath: string;
  /** Replicated volumes; the daemon wires it (it needs ssh and Docker). */
  replicas?: ReplicaService;
}

/** What group snapshots and hooks need: Docker (when there is one) and where pauses are recorded. */
export interface DockerServiceOptions {
  docker?: DockerPort | undefined;
  /** The pause journal (default `<VOLUMES_PATH>/.buttervolume-paused.json`). */
  pauseJournalPath?: string | undefined;
  hookTimeoutMs?: number | undefined;
  /** Crash tests kill the daemon here. */
  afterGroupStep?: ((step: GroupStep) => Promise<void> | void) | undefined;
}

export function createServices(
  context: ServiceContext,
  docker: DockerServiceOptions = {},
): Services {
  const snapshots = new SnapshotService(context);
  const list = new VolumeList(context.layout.volumesPath, context.btrfs);
  const status = new VolumeStatusCache(context, () => list.names());
  const volumes = new VolumeService(context, snapshots, status, list);
  const restore = new RestoreService(context, volumes, snapshots);
  const journal = new PauseJournal(
    docker.pauseJournalPath ??
      `${context.layout.volumesPath.replace(/\/+$/, '')}/.buttervolume-paused.json`,
  );
  const groups = new GroupSnapshotService(context, snapshots, restore, docker.docker, journal, {
    hookTimeoutMs: docker.hookTimeoutMs ?? 60_000,
    afterStep: docker.afterGroupStep,
  });
  return {
    volumes,
    snapshots,
    restore,
    status,
    groups,
    context,
    volumesPath: context.layout.volumesPath,
  };
}
