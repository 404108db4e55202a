import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { SnapshotName, type VolumeName } from '@buttervolume/names';
import { MiB, writeRandom } from '@buttervolume/test-utils';
import { expect } from 'vitest';
import { ReplicationError } from '../../src/index.js';

// What the integration tests share: a local side with volumes and dated snapshots.

export const btrfs = new Btrfs();

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
