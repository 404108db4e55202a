import type { ServiceContext } from './context.js';
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
  context: ServiceContext;
  /** VOLUMES_PATH. */
  volumesPath: string;
}

export function createServices(context: ServiceContext): Services {
  const snapshots = new SnapshotService(context);
  const list = new VolumeList(context.layout.volumesPath, context.btrfs);
  const status = new VolumeStatusCache(context, () => list.names());
  const volumes = new VolumeService(context, snapshots, status, list);
  const restore = new RestoreService(context, volumes, snapshots);
  return { volumes, snapshots, restore, status, context, volumesPath: context.layout.volumesPath };
}
