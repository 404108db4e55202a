import { lstat, readdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isBtrfs as onBtrfs, readMounts } from '@buttervolume/btrfs';
import { ifPresent } from '@buttervolume/files';

/** What a path is now, as far as buttervolume's storage is concerned. */
export interface PathState {
  path: string;
  exists: boolean;
  isDirectory: boolean;
  /** The path, or where it would be created (its nearest existing ancestor), is on btrfs. */
  isBtrfs: boolean;
  /** An existing directory with no entries; false for anything else. */
  empty: boolean;
  /** A filesystem is mounted exactly here. */
  isMountPoint: boolean;
  /** The nearest existing path (itself when it exists) whose filesystem was checked. */
  checkedPath: string;
}

/** Inspects each path without running any process (statfs, readdir, /proc/self/mountinfo). */
export async function inspectStorage(paths: readonly string[]): Promise<PathState[]> {
  const mountPoints = await readMountPoints();
  return Promise.all(paths.map((path) => inspectPath(resolve(path), mountPoints)));
}

async function inspectPath(path: string, mountPoints: ReadonlySet<string>): Promise<PathState> {
  const stats = await ifPresent(lstat(path));
  const checkedPath = stats ? path : await nearestExisting(path);
  const isBtrfs = await onBtrfs(checkedPath);
  const isDirectory = stats?.isDirectory() ?? false;
  const empty = isDirectory ? (await readdir(path)).length === 0 : false;
  return {
    path,
    exists: stats !== undefined,
    isDirectory,
    isBtrfs,
    empty,
    isMountPoint: mountPoints.has(path),
    checkedPath,
  };
}

async function nearestExisting(path: string): Promise<string> {
  let current = path;
  while (
    !(await lstat(current).then(
      () => true,
      () => false,
    ))
  ) {
    const parent = dirname(current);
    if (parent === current) return current;
    current = parent;
  }
  return current;
}

async function readMountPoints(): Promise<Set<string>> {
  return new Set((await readMounts()).map((mount) => mount.mountPoint));
}
