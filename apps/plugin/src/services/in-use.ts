import { type ForeignMount, mountsUnder } from '@buttervolume/btrfs';
import type { VolumeName } from '@buttervolume/names';
import type { ServiceContext } from './context.js';

/** Who uses a volume: Docker's mount IDs and the kernel's mounts of it in any namespace. */
export interface VolumeUsers {
  ids: string[];
  /** Empty also when /proc could not be read (`kernelKnown` false). */
  mounts: ForeignMount[];
  kernelKnown: boolean;
}

/**
 * Docker's mount IDs (mounts.json) alone miss containers started before this daemon (3.x, an
 * unreadable mounts.json) and keep IDs whose Unmount was missed while it was down. The kernel
 * knows: a mount of the volume in any mount namespace (/proc/<pid>/mountinfo).
 */
export async function usersOf(
  ctx: ServiceContext,
  name: VolumeName,
  path: string,
): Promise<VolumeUsers> {
  const ids = ctx.mounts.ids(name);
  try {
    return { ids, mounts: await mountsUnder(path), kernelKnown: true };
  } catch (error) {
    ctx.logger.warn('could not read the mounts of other processes; trusting mount IDs alone', {
      volume: name,
      error,
    });
    return { ids, mounts: [], kernelKnown: false };
  }
}
