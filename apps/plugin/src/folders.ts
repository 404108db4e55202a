import { lstat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isBtrfs } from '@buttervolume/btrfs';
import { ifPresent } from '@buttervolume/files';
import { DaemonStartError } from './errors.js';
import type { Logger } from './log.js';

/**
 * VOLUMES_PATH or SNAPSHOTS_PATH must be a folder on btrfs. A missing last level whose parent
 * is on btrfs is created; anything else refuses the start with what to do.
 */
export async function requireBtrfsFolder(
  variable: string,
  path: string,
  logger: Logger,
): Promise<void> {
  const stats = await ifPresent(lstat(path));
  const fix = `create it on a btrfs filesystem (e.g. "mkdir -p ${path}" on a btrfs mount, or run "buttervolume init"), or set BUTTERVOLUME_${variable} to a folder on btrfs`;
  if (!stats) {
    // A fresh btrfs mount (a new managed plugin, a new disk) lacks only the last level: create
    // that one, never a whole tree, which would land on the root filesystem under a failed mount.
    const parent = dirname(path);
    const parentStats = await ifPresent(lstat(parent));
    if (parentStats?.isDirectory() && (await isBtrfs(parent))) {
      await mkdir(path);
      logger.info('created folder', { variable, path });
      return;
    }
    throw new DaemonStartError(`${variable} ${path} does not exist: ${fix}`);
  }
  if (!stats.isDirectory())
    throw new DaemonStartError(`${variable} ${path} is not a folder: ${fix}`);
  if (!(await isBtrfs(path))) {
    throw new DaemonStartError(`${variable} ${path} is not on a btrfs filesystem: ${fix}`);
  }
}
