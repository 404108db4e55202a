import { describe, expect, it } from 'vitest';
import { absoluteThrough, findMount, parseMountInfo } from './mounts.js';

// Captured from a host with a top-level mount, a `subvol=@` mount of the same filesystem whose
// mount point has a space, a bind mount of a folder inside it, and unrelated mounts.
const MOUNTINFO = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '70 22 0:47 / /mnt/top rw,relatime shared:40 - btrfs /dev/loop2 rw,space_cache=v2,subvolid=5,subvol=/',
  '71 22 0:47 /@ /srv/bv\\040data rw,relatime shared:41 - btrfs /dev/loop2 rw,subvolid=256,subvol=/@',
  '72 22 0:47 /@/volumes /var/lib/buttervolume/volumes rw,relatime - btrfs /dev/loop2 rw,subvolid=256,subvol=/@',
  'garbage line',
  '',
].join('\n');

describe('parseMountInfo', () => {
  it('reads root, mount point (unescaped), filesystem type and its options, skipping malformed lines', () => {
    expect(parseMountInfo(MOUNTINFO)).toEqual([
      {
        device: '254:0',
        root: '/',
        mountPoint: '/',
        fsType: 'ext4',
        source: '/dev/vda1',
        superOptions: 'rw',
      },
      {
        device: '0:47',
        root: '/',
        mountPoint: '/mnt/top',
        fsType: 'btrfs',
        source: '/dev/loop2',
        superOptions: 'rw,space_cache=v2,subvolid=5,subvol=/',
      },
      {
        device: '0:47',
        root: '/@',
        mountPoint: '/srv/bv data',
        fsType: 'btrfs',
        source: '/dev/loop2',
        superOptions: 'rw,subvolid=256,subvol=/@',
      },
      {
        device: '0:47',
        root: '/@/volumes',
        mountPoint: '/var/lib/buttervolume/volumes',
        fsType: 'btrfs',
        source: '/dev/loop2',
        superOptions: 'rw,subvolid=256,subvol=/@',
      },
    ]);
  });
});

describe('findMount', () => {
  const mounts = parseMountInfo(MOUNTINFO);
  it('picks the deepest mount containing the path, not a sibling sharing a prefix', () => {
    expect(findMount(mounts, '/mnt/top/volumes')?.mountPoint).toBe('/mnt/top');
    expect(findMount(mounts, '/mnt/topx')?.mountPoint).toBe('/');
    expect(findMount(mounts, '/srv/bv data/volumes/a')?.root).toBe('/@');
    expect(findMount(mounts, '/var/lib/buttervolume/volumes')?.root).toBe('/@/volumes');
  });

  it('prefers the later of two mounts on the same point (it hides the first)', () => {
    const stacked = parseMountInfo(
      `${MOUNTINFO}\n80 70 0:47 /@ /mnt/top rw - btrfs /dev/loop2 rw,subvol=/@`,
    );
    expect(findMount(stacked, '/mnt/top/x')?.root).toBe('/@');
  });

  it('unescapes the source too and skips a line cut before it', () => {
    const [mount, ...rest] = parseMountInfo(
      '40 36 0:45 / /var/lib/bv\\040x rw shared:5 - btrfs /dev/loop\\0403 rw\n41 36 0:46 / /x rw - btrfs',
    );
    expect(mount).toMatchObject({ mountPoint: '/var/lib/bv x', source: '/dev/loop 3' });
    expect(rest).toEqual([]);
  });
});

describe('absoluteThrough', () => {
  const [, top, sub, bind] = parseMountInfo(MOUNTINFO);
  it('maps top-level paths through the top-level mount', () => {
    expect(absoluteThrough(top!, '@/volumes/b c')).toBe('/mnt/top/@/volumes/b c');
    expect(absoluteThrough(top!, 'volumes/a')).toBe('/mnt/top/volumes/a');
  });

  it('maps through a subvol= mount and a bind mount, and refuses what they do not show', () => {
    expect(absoluteThrough(sub!, '@/volumes/b c')).toBe('/srv/bv data/volumes/b c');
    expect(absoluteThrough(sub!, '@')).toBe('/srv/bv data');
    expect(absoluteThrough(sub!, 'other/x')).toBeUndefined();
    expect(absoluteThrough(sub!, '@x/volumes')).toBeUndefined();
    expect(absoluteThrough(bind!, '@/volumes/a@2026')).toBe('/var/lib/buttervolume/volumes/a@2026');
    expect(absoluteThrough(bind!, '@/snapshots/a@2026')).toBeUndefined();
  });

  it('maps through a filesystem mounted on /', () => {
    const root = {
      device: '0:1',
      root: '/',
      mountPoint: '/',
      fsType: 'btrfs',
      source: '/dev/sda',
      superOptions: 'rw',
    };
    expect(absoluteThrough(root, 'v/a')).toBe('/v/a');
  });
});
