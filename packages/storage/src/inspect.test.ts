import { describe, expect, it } from 'vitest';
import { parseMountInfo } from './inspect.js';

describe('parseMountInfo', () => {
  it('reads mount point, type and source, unescaping octal escapes', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '40 36 0:45 / /var/lib/bv\\040x rw,relatime shared:5 - btrfs /dev/loop3 rw,ssd',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { mountPoint: '/mnt2', fsType: 'ext3', source: '/dev/root' },
      { mountPoint: '/var/lib/bv x', fsType: 'btrfs', source: '/dev/loop3' },
    ]);
  });
});
