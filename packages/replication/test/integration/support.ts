import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { type HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import {
  createHostB,
  createLoopBtrfs,
  type HostB,
  type LoopBtrfs,
  MiB,
  writeRandom,
} from '@buttervolume/test-utils';
import { expect } from 'vitest';
import { ReplicationError } from '../../src/index.js';

// What the integration tests share: a local side with volumes and dated snapshots.

export const btrfs = new Btrfs();

export interface TwoHosts {
  a: LoopBtrfs;
  b: HostB;
  snapshotsPath: string;
  volumesPath: string;
  /** B's address, as a send names it. */
  host: HostName;
}

/**
 * Host A (a loop btrfs with volumes/ and snapshots/) and host B (its own namespace and btrfs,
 * mounted at the very same path with the same folders, as two real hosts with one config).
 * Clean up with `b.cleanup()` then `a.cleanup()`.
 */
export async function twoHosts(sizes: { aMiB: number; bMiB: number }): Promise<TwoHosts> {
  const a = await createLoopBtrfs({ sizeMiB: sizes.aMiB });
  try {
    const snapshotsPath = join(a.mountPoint, 'snapshots');
    const volumesPath = join(a.mountPoint, 'volumes');
    await mkdir(snapshotsPath);
    await mkdir(volumesPath);
    const b = await createHostB({ paths: [a.mountPoint], sizeMiB: sizes.bMiB });
    try {
      await b.exec(['mkdir', '--', snapshotsPath, volumesPath]);
      return { a, b, snapshotsPath, volumesPath, host: b.address as HostName };
    } catch (error) {
      await b.cleanup();
      throw error;
    }
  } catch (error) {
    await a.cleanup();
    throw error;
  }
}

/** Volumes and snapshots in two folders; each snapshot a minute later than the one before. */
export function localSide(
  paths: () => { volumesPath: string; snapshotsPath: string },
  start: Date,
) {
  let clock = start.getTime();
  return {
    async makeVolume(name: string, sizeMiB: number): Promise<VolumeName> {
      const { volumesPath } = paths();
      await btrfs.createSubvolume(join(volumesPath, name));
      await writeRandom(join(volumesPath, name, 'data'), sizeMiB * MiB);
      return name as VolumeName;
    },
    async snapshot(volume: VolumeName): Promise<SnapshotName> {
      const { volumesPath, snapshotsPath } = paths();
      clock += 60_000;
      const name = SnapshotName.of(volume, new Date(clock));
      await btrfs.snapshot(join(volumesPath, volume), join(snapshotsPath, name), {
        readonly: true,
      });
      return name;
    },
    /** The send markers of `volume` for `host`. */
    async markers(volume: string, host: string): Promise<string[]> {
      return (await btrfs.listSubvolumes(paths().snapshotsPath)).filter(
        (name) => name.startsWith(`${volume}@`) && name.endsWith(`@${host}`),
      );
    },
  };
}

export function rejection(promise: Promise<unknown>): Promise<ReplicationError> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(ReplicationError);
      return error as ReplicationError;
    },
  );
}

/**
 * A send's progress: live values that rise, then the exact stream size. Live values come from
 * the sender's kernel write counter, seen one byte above the exact size at the very end (1 run
 * in 3), so they are compared capped at that size, and none may pass it by more.
 */
export function expectProgressTo(values: readonly number[], exact: number): void {
  expect(values.at(-1)).toBe(exact);
  const live = values.slice(0, -1);
  expect(Math.max(...live)).toBeLessThanOrEqual(exact + 1);
  const capped = live.map((v) => Math.min(v, exact));
  expect(capped).toEqual([...capped].sort((x, y) => x - y));
}
