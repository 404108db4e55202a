// Questions answered from stat(2)/statfs(2) alone: these run per directory entry (listing
// thousands of volumes), where spawning `btrfs subvolume show` for each would take seconds.
// The bulk listing (listSubvolumes) calls them synchronously: a libuv thread-pool round trip
// per entry made a 10,000-entry listing ~3x slower (bench/btrfs.ts). Single-path checks go
// through the thread pool instead: they answer Docker's calls, and while `btrfs subvolume
// delete` runs (a purge) statfs can wait in the kernel for tens of milliseconds, as can a
// lookup in a folder a delete holds; on the event loop that wait stalled every other call.
import type { BigIntStats, Stats } from 'node:fs';
import { constants, lstatSync, statfsSync } from 'node:fs';
import { lstat, readdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PathStat } from '@buttervolume/spawner';
import { NoSuchPathError, NotASubvolumeError } from './errors.js';

/** statfs f_type of btrfs (BTRFS_SUPER_MAGIC, linux/magic.h). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;
/** Inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
export const SUBVOLUME_ROOT_INODE = 256;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** True when `path` lives on a btrfs filesystem. False when it does not exist. */
export async function isBtrfs(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === BTRFS_SUPER_MAGIC;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** lstat that answers undefined for a missing path instead of throwing. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function looksLikeSubvolumeRoot(stats: Stats | BigIntStats | undefined): boolean {
  return stats?.isDirectory() === true && Number(stats.ino) === SUBVOLUME_ROOT_INODE;
}

// Long sweeps of these synchronous calls yield to the event loop every CHUNK entries: under
// load (a busy disk, a busy CPU) one call can take tens of microseconds, and thousands of them
// in one go stalled every Docker call (a purge of 2,000 snapshots: 190 ms at load 20).
const CHUNK = 50;

/** In a loop over many entries: lets the event loop serve others every CHUNK entries. */
export async function yieldEvery(index: number): Promise<void> {
  if (index % CHUNK === CHUNK - 1) await new Promise((resolve) => setImmediate(resolve));
}

function isSubvolumeSync(path: string): boolean {
  try {
    if (!looksLikeSubvolumeRoot(lstatSync(path, { throwIfNoEntry: false }))) return false;
    return statfsSync(path).type === BTRFS_SUPER_MAGIC;
  } catch (error) {
    // Missing (or removed between the two calls, e.g. a concurrent delete): not a subvolume.
    if (isMissing(error)) return false;
    throw error;
  }
}

/**
 * True when `path` is the root of a btrfs subvolume (or snapshot). A symlink to one is not:
 * deleting through a link would surprise. Other filesystems may also number their root 256,
 * hence the statfs check.
 */
export async function isSubvolume(path: string): Promise<boolean> {
  try {
    if (!looksLikeSubvolumeRoot(await lstat(path))) return false;
    return (await statfs(path)).type === BTRFS_SUPER_MAGIC;
  } catch (error) {
    // Missing (or removed between the two calls, e.g. a concurrent delete): not a subvolume.
    if (isMissing(error)) return false;
    throw error;
  }
}

/**
 * Why each of `paths` (absolute) is not a subvolume root on btrfs (NoSuchPathError,
 * NotASubvolumeError, or what lstat threw), undefined for those that are. `lstats`, when given,
 * are the paths' lstat answers, in order (the spawner's lstatPaths); without them this
 * process makes one lstat per path, `group` at a time through the thread pool. Then one statfs
 * per folder instead of per path: a path that is no mount point is on its folder's filesystem
 * (`mountPoints`, from mountinfo; a purge of 2,000 snapshots made 4,000 round trips, and
 * Docker's calls queued behind them).
 */
export async function checkSubvolumes(
  paths: readonly string[],
  mountPoints: ReadonlySet<string>,
  group: number,
  lstats?: readonly PathStat[],
): Promise<(Error | undefined)[]> {
  const stats = lstats ?? (await lstatInGroups(paths, group));
  const errors: (Error | undefined)[] = [];
  // The filesystem a root-looking path is on is asked of the folder that answers for it.
  const answering = new Map<number, string>();
  for (const [index, path] of paths.entries()) {
    const stat = stats[index];
    if (stat === undefined) throw new Error(`no lstat answer for ${path}`);
    if (stat.error !== undefined) {
      errors.push(isMissing(stat.error) ? new NoSuchPathError(path) : stat.error);
    } else if (
      (stat.mode & constants.S_IFMT) !== constants.S_IFDIR ||
      stat.ino !== SUBVOLUME_ROOT_INODE
    ) {
      errors.push(new NotASubvolumeError(path));
    } else {
      errors.push(undefined);
      answering.set(index, mountPoints.has(path) ? path : dirname(path));
    }
  }
  const folders = [...new Set(answering.values())];
  const onBtrfs = new Map<string, boolean | Error>();
  for (let start = 0; start < folders.length; start += group) {
    const slice = folders.slice(start, start + group);
    const answers = await Promise.all(
      slice.map((folder) => isBtrfs(folder).catch((error: unknown) => error as Error)),
    );
    for (const [at, folder] of slice.entries()) onBtrfs.set(folder, answers[at]!);
  }
  for (const [index, folder] of answering) {
    const btrfs = onBtrfs.get(folder);
    if (btrfs instanceof Error) errors[index] = btrfs;
    else if (!btrfs) errors[index] = new NotASubvolumeError(paths[index]!);
  }
  return errors;
}

/** lstat of each path in this process, `group` at a time through the thread pool. */
async function lstatInGroups(paths: readonly string[], group: number): Promise<PathStat[]> {
  const stat = (path: string): Promise<PathStat> =>
    lstat(path).then(
      ({ ino, mode }) => ({ ino, mode }),
      (error: unknown) => ({ error: error as NodeJS.ErrnoException }),
    );
  const stats: PathStat[] = [];
  for (let start = 0; start < paths.length; start += group) {
    stats.push(...(await Promise.all(paths.slice(start, start + group).map(stat))));
  }
  return stats;
}

/**
 * Subvolume checks for paths asked about again and again (a volume at each of Docker's Get,
 * Path and Mount): one lstat, and the statfs that tells btrfs apart only the first time a root
 * is seen. During `btrfs subvolume delete` (a purge) each of these calls can wait in the
 * kernel, and under load each thread-pool round trip waits for a CPU too: one instead of two.
 * A root is known by its birth time (to the microsecond): another subvolume, or another
 * filesystem, at the same path is born at another instant.
 */
export class SubvolumeRoots {
  readonly #confirmed = new Map<string, number>();

  /** The root's stats when `path` is a subvolume root on btrfs, else undefined. */
  async stats(path: string): Promise<BigIntStats | undefined> {
    let stats: BigIntStats;
    try {
      stats = await lstat(path, { bigint: true });
    } catch (error) {
      if (!isMissing(error)) throw error;
      this.#confirmed.delete(path);
      return undefined;
    }
    if (!looksLikeSubvolumeRoot(stats)) {
      this.#confirmed.delete(path);
      return undefined;
    }
    const born = Number(stats.birthtimeNs / 1000n);
    // No birth time (a kernel or filesystem without statx's btime): nothing to know it by.
    if (born !== 0 && this.#confirmed.get(path) === born) return stats;
    if (!(await isBtrfs(path))) {
      this.#confirmed.delete(path);
      return undefined;
    }
    if (born !== 0) this.#confirmed.set(path, born);
    return stats;
  }
}

/** Names of the direct children of `dir` that are subvolumes, sorted (code unit order). */
export async function listSubvolumes(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names: string[] = [];
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    if (entry.isDirectory() && isSubvolumeSync(join(dir, entry.name))) names.push(entry.name);
    await yieldEvery(index);
  }
  return names.sort();
}
