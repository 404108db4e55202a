import { describe, expect, it } from 'vitest';
import { renderMountUnit, wantsLink } from './units.js';

describe('renderMountUnit', () => {
  const unit = renderMountUnit({
    image: '/var/lib/buttervolume.img',
    mountPoint: '/var/lib/buttervolume',
  });

  it('is named after its Where= as systemd requires', () => {
    expect(unit.name).toBe('var-lib-buttervolume.mount');
    expect(unit.content).toContain('\nWhere=/var/lib/buttervolume\n');
  });

  it('loop-mounts the image as btrfs before docker and buttervolume start', () => {
    expect(unit.content).toContain('\nWhat=/var/lib/buttervolume.img\n');
    expect(unit.content).toContain('\nType=btrfs\n');
    expect(unit.content).toContain('\nOptions=loop\n');
    expect(unit.content).toContain('\nBefore=docker.service buttervolume.service\n');
    expect(unit.content).toContain('\nRequiresMountsFor=/var/lib\n');
  });

  it('is enabled through local-fs.target', () => {
    expect(wantsLink('/etc/systemd/system', unit)).toBe(
      '/etc/systemd/system/local-fs.target.wants/var-lib-buttervolume.mount',
    );
  });
});
