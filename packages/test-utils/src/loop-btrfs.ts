import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { atExit, trySync } from './cleanup.js';
import { attachLoop, detachLoop } from './loop-device.js';

/** A freshly made btrfs filesystem on a sparse image file, loop-mounted for one test. */
export interface LoopBtrfs {
  /** Where the filesystem is mounted (inside `dir`). */
  mountPoint: string;
  /** The sparse image file backing the filesystem (inside `dir`). */
  image: string;
  /** The private temporary directory holding image and mount point; removed by cleanup. */
  dir: string;
  /** The loop device (`/dev/loopN`) the image is attached to. */
  device: string;
  /** Unmounts, detaches the loop device and removes `dir`. Safe to call more than once. */
  cleanup(): Promise<void>;
}

export interface LoopBtrfsOptions {
  /** Image size in MiB (default 512). mkfs.btrfs refuses less than 109 MiB. */
  sizeMiB?: number;
  /** Filesystem label (`mkfs.btrfs -L`). */
  label?: string;
  /** Extra mount options, e.g. `['compress=zstd']`. */
  mountOptions?: readonly string[];
  /**
   * Extra mkfs.btrfs options, e.g. `['--mixed']`: data and metadata then share one pool, so
   * filling the filesystem with a file also leaves no room for a new subvolume or snapshot
   * (without it, a full data pool still has metadata room for those).
   */
  mkfsOptions?: readonly string[];
}

/** mkfs.btrfs 6.x refuses devices smaller than 114294784 bytes. */
export const MIN_LOOP_BTRFS_MIB = 109;
const DEFAULT_SIZE_MIB = 512;

// Fixtures still mounted, so a worker that exits without its afterAll (crash, timeout, Ctrl-C)
// does not leave loop devices and mounts behind on the host.
const live = new Map<string, { mountPoint: string; device: string; dir: string }>();

function removeLive(): void {
  for (const fixture of live.values()) {
    // A lazy unmount cannot block.
    trySync('umount', ['-l', '--', fixture.mountPoint]);
    trySync('losetup', ['-d', fixture.device]);
    trySync('rm', ['-rf', '--', fixture.dir]);
  }
}

/**
 * Makes a fresh btrfs filesystem on a sparse loop image and mounts it in a private temp dir.
 * Always pair with `cleanup()` in a finally/afterAll, or use `withLoopBtrfs`.
 */
export async function createLoopBtrfs(options: LoopBtrfsOptions = {}): Promise<LoopBtrfs> {
  const sizeMiB = options.sizeMiB ?? DEFAULT_SIZE_MIB;
  if (!Number.isInteger(sizeMiB) || sizeMiB < MIN_LOOP_BTRFS_MIB) {
    throw new RangeError(
      `createLoopBtrfs: sizeMiB must be an integer >= ${MIN_LOOP_BTRFS_MIB} (mkfs.btrfs minimum), got ${sizeMiB}`,
    );
  }
  const suffix = randomBytes(4).toString('hex');
  // Canonical path, so it compares equal to the backing file losetup reports.
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'bv-loop-')));
  const image = join(dir, `bv-${suffix}.img`);
  const mountPoint = join(dir, `bv-mnt-${suffix}`);
  let device: string | undefined;
  let mounted = false;

  const teardown = async (): Promise<void> => {
    live.delete(dir);
    if (mounted) await unmount(mountPoint);
    if (device !== undefined) await detachLoop(device, image);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await writeFile(image, '');
    await truncate(image, sizeMiB * 1024 * 1024);
    const mkfsArgs = ['-q', '-f'];
    if (options.label !== undefined) mkfsArgs.push('-L', options.label);
    mkfsArgs.push(...(options.mkfsOptions ?? []));
    await execa('mkfs.btrfs', [...mkfsArgs, '--', image]);
    device = await attachLoop(image);
    await mkdir(mountPoint);
    const mountArgs = ['-t', 'btrfs'];
    if (options.mountOptions && options.mountOptions.length > 0) {
      mountArgs.push('-o', options.mountOptions.join(','));
    }
    await execa('mount', [...mountArgs, '--', device, mountPoint]);
    mounted = true;
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }

  atExit(removeLive);
  live.set(dir, { mountPoint, device, dir });
  let cleaning: Promise<void> | undefined;
  return {
    mountPoint,
    image,
    dir,
    device,
    cleanup() {
      // Memoised: a second call (or a concurrent one) waits for the first instead of racing it.
      cleaning ??= teardown();
      return cleaning;
    },
  };
}

/** Runs `fn` with a fresh loop btrfs and always tears it down, also when `fn` throws. */
export async function withLoopBtrfs<T>(
  fn: (fs: LoopBtrfs) => Promise<T> | T,
  options?: LoopBtrfsOptions,
): Promise<T> {
  const fs = await createLoopBtrfs(options);
  try {
    return await fn(fs);
  } finally {
    await fs.cleanup();
  }
}

// A filesystem stays busy for a moment after a killed `btrfs send` or a closed file handle;
// retry before falling back to a lazy unmount, which still frees the loop device once idle.
async function unmount(mountPoint: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await execa('umount', ['--', mountPoint], { reject: false });
    if (result.exitCode === 0) return;
    if (/not mounted|no mount point/i.test(result.stderr)) return;
    await sleep(100);
  }
  await execa('umount', ['-l', '--', mountPoint]);
}
