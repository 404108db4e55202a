import type { ServiceContext } from './context.js';
import { RestoreService } from './restore.js';
import { SnapshotService } from './snapshots.js';
import { VolumeService } from './volumes.js';

/** The daemon's logic, free of HTTP: what the routes (and the scheduler) call. */
export interface Services {
  volumes: VolumeService;
  snapshots: SnapshotService;
  restore: RestoreService;
  context: ServiceContext;
}

export function createServices(context: ServiceContext): Services {
  const snapshots = new SnapshotService(context);
  const volumes = new VolumeService(context, snapshots);
  const restore = new RestoreService(context, volumes, snapshots);
  return { volumes, snapshots, restore, context };
}
