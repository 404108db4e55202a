import { join, resolve } from 'node:path';
import type { MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';

/**
 * Where things live on disk. Only branded names reach these joins: a parsed name is a single
 * path component, so nothing resolves outside its folder.
 */
export class Layout {
  readonly volumesPath: string;
  readonly snapshotsPath: string;

  /** Folder paths with their last '/', to which a name is appended as it is. */
  readonly #volumesDir: string;
  readonly #snapshotsDir: string;

  constructor(volumesPath: string, snapshotsPath: string) {
    this.volumesPath = resolve(volumesPath);
    this.snapshotsPath = resolve(snapshotsPath);
    this.#volumesDir = join(this.volumesPath, '/');
    this.#snapshotsDir = join(this.snapshotsPath, '/');
  }

  // Appended, not join()ed: a branded name is one component (no '/', never '.' or '..'), so
  // there is nothing to normalise, and a purge makes 2,000 of these paths in one go.
  volume(name: VolumeName): string {
    return this.#volumesDir + name;
  }

  snapshot(name: SnapshotName | MarkerName): string {
    return this.#snapshotsDir + name;
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
