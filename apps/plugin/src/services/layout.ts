import { join, resolve } from 'node:path';
import type { MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';

/**
 * Where things live on disk. Only branded names reach these joins: a parsed name is a single
 * path component, so nothing resolves outside its folder.
 */
export class Layout {
  readonly volumesPath: string;
  readonly snapshotsPath: string;

  constructor(volumesPath: string, snapshotsPath: string) {
    this.volumesPath = resolve(volumesPath);
    this.snapshotsPath = resolve(snapshotsPath);
  }

  volume(name: VolumeName): string {
    return join(this.volumesPath, name);
  }

  snapshot(name: SnapshotName | MarkerName): string {
    return join(this.snapshotsPath, name);
  }

  /** Hidden names in VOLUMES_PATH: a leading '.' is never a valid volume name, so List skips them. */
  restoreJournal(target: VolumeName): string {
    return join(this.volumesPath, `.buttervolume-restore-${target}.json`);
  }

  restoreStaging(target: VolumeName, id: string): string {
    return join(this.volumesPath, `.restore-${target}-${id}`);
  }

  restoreOld(target: VolumeName, id: string): string {
    return join(this.volumesPath, `.restore-old-${target}-${id}`);
  }
}
