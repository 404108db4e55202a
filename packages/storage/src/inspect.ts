import { lstat, readdir, readFile, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** f_type of a btrfs filesystem (linux/magic.h BTRFS_SUPER_MAGIC). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;

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
  const stats = await lstat(path).catch(() => undefined);
  const checkedPath = stats ? path : await nearestExisting(path);
  const isBtrfs = (await statfs(checkedPath)).type === BTRFS_SUPER_MAGIC;
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

/** A mount as /proc/self/mountinfo reports it. */
export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
}

export async function readMounts(): Promise<MountInfo[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Parses /proc/self/mountinfo; later lines win, as later mounts hide earlier ones. */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    // `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, source] = right.split(' ');
    if (mountPoint === undefined || fsType === undefined || source === undefined) continue;
    mounts.push({ mountPoint: unescapeOctal(mountPoint), fsType, source: unescapeOctal(source) });
  }
  return mounts;
}

/** The kernel writes space, tab, newline and backslash in mount paths as `\ooo`. */
function unescapeOctal(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

async function readMountPoints(): Promise<Set<string>> {
  return new Set((await readMounts()).map((mount) => mount.mountPoint));
}
