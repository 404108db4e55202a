// Questions answered from stat(2)/statfs(2) alone: these run per directory entry (listing
// thousands of volumes), where spawning `btrfs subvolume show` for each would take seconds.
import type { Stats } from 'node:fs';
import { lstat, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';

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

function looksLikeSubvolumeRoot(stats: Stats): boolean {
  return stats.isDirectory() && stats.ino === SUBVOLUME_ROOT_INODE;
}

/**
 * True when `path` is the root of a btrfs subvolume (or snapshot). A symlink to one is not:
 * deleting through a link would surprise. Other filesystems may also number their root 256,
 * hence the statfs check.
 */
export async function isSubvolume(path: string): Promise<boolean> {
  const stats = await lstatOrUndefined(path);
  if (!stats || !looksLikeSubvolumeRoot(stats)) return false;
  return isBtrfs(path);
}

/** Names of the direct children of `dir` that are subvolumes, sorted (code unit order). */
export async function listSubvolumes(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const candidates = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  const checks = await Promise.all(
    candidates.map(async (name) => {
      const stats = await lstatOrUndefined(join(dir, name));
      return stats !== undefined && looksLikeSubvolumeRoot(stats);
    }),
  );
  const roots = candidates.filter((_, index) => checks[index]);
  // Another filesystem mounted on a child may also number its root 256: statfs settles it,
  // and costs one cheap syscall per subvolume, not a process.
  const confirmed = await Promise.all(roots.map((name) => isBtrfs(join(dir, name))));
  return roots.filter((_, index) => confirmed[index]).sort();
}
