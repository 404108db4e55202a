import { dirname, join } from 'node:path';
import { mountUnitName } from './systemd-escape.js';

/** A unit file to write (or print, when the user installs it by hand). */
export interface UnitFile {
  /** File name, e.g. `var-lib-buttervolume.mount`. */
  name: string;
  content: string;
  /** The target whose `.wants/` directory enables it (what `systemctl enable` links). */
  wantedBy: string;
}

export interface MountUnitOptions {
  image: string;
  mountPoint: string;
}

/**
 * The mount unit that loop-mounts the image at boot. It must be done before docker and
 * buttervolume start, or they would see an empty directory and create volumes on the root fs.
 */
export function renderMountUnit({ image, mountPoint }: MountUnitOptions): UnitFile {
  const content = [
    '# Written by `buttervolume init`: the btrfs image holding buttervolume volumes and snapshots.',
    '[Unit]',
    'Description=buttervolume btrfs storage',
    // The image itself may live on a filesystem that is mounted later (/var on its own disk).
    `RequiresMountsFor=${dirname(image)}`,
    'Before=docker.service buttervolume.service',
    '',
    '[Mount]',
    `What=${image}`,
    `Where=${mountPoint}`,
    'Type=btrfs',
    'Options=loop',
    '',
    '[Install]',
    'WantedBy=local-fs.target',
    '',
  ].join('\n');
  return { name: mountUnitName(mountPoint), content, wantedBy: 'local-fs.target' };
}

/** Where `systemctl enable` would put the symlink for `unit` in `unitDir`. */
export function wantsLink(unitDir: string, unit: UnitFile): string {
  return join(unitDir, `${unit.wantedBy}.wants`, unit.name);
}
