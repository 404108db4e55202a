import type { MountEntry } from '@buttervolume/btrfs';
import { describe, expect, it } from 'vitest';
import { freezerOf, parseFreezerPath } from './freezer.js';

const ID = 'ab'.repeat(32);
const mount = (
  mountPoint: string,
  fsType: string,
  superOptions: string,
  root = '/',
): MountEntry => ({
  device: '0:1',
  root,
  mountPoint,
  fsType,
  source: fsType,
  superOptions,
});
const HYBRID = [
  mount('/sys/fs/cgroup', 'tmpfs', 'rw,mode=755'),
  mount('/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu'),
  mount('/sys/fs/cgroup/freezer', 'cgroup', 'rw,freezer'),
  mount('/sys/fs/cgroup/unified', 'cgroup2', 'rw'),
];
const V2 = [mount('/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate')];

describe('freezerOf', () => {
  it('finds a v1 freezer (cgroupfs and systemd names) and a v2-only folder', () => {
    const v1 = `12:freezer:/docker/${ID}\n3:cpu:/docker/${ID}\n0::/init.scope\n`;
    expect(freezerOf(v1, HYBRID, ID)).toEqual({
      kind: 'v1',
      dir: `/sys/fs/cgroup/freezer/docker/${ID}`,
    });
    const parent = `7:freezer:/bv-node-1/${ID}\n`;
    expect(freezerOf(parent, HYBRID, ID)?.dir).toBe(`/sys/fs/cgroup/freezer/bv-node-1/${ID}`);
    expect(freezerOf(`0::/system.slice/docker-${ID}.scope\n`, V2, ID)).toEqual({
      kind: 'v2',
      dir: `/sys/fs/cgroup/system.slice/docker-${ID}.scope`,
    });
  });

  it('answers nothing where freezing might reach more than the container', () => {
    // A hybrid host's v2 folder is systemd's, shared with other processes.
    expect(freezerOf(`0::/system.slice/docker-${ID}.scope\n`, HYBRID, ID)).toBeUndefined();
    expect(freezerOf(`12:freezer:/docker/${ID}\n0::/x\n`, V2, ID)).toBeUndefined();
    // A folder not named after the container, or another container's.
    expect(freezerOf('12:freezer:/docker\n', HYBRID, ID)).toBeUndefined();
    expect(freezerOf(`12:freezer:/docker/${'cd'.repeat(32)}\n`, HYBRID, ID)).toBeUndefined();
    expect(freezerOf(`12:freezer:/docker/../${ID}\n`, HYBRID, ID)).toBeUndefined();
    // A cgroup namespace (the mount shows part of the hierarchy), or none mounted.
    const partial = [mount('/sys/fs/cgroup/freezer', 'cgroup', 'rw,freezer', '/docker')];
    expect(freezerOf(`12:freezer:/docker/${ID}\n`, partial, ID)).toBeUndefined();
    expect(freezerOf(`12:freezer:/docker/${ID}\n`, [], ID)).toBeUndefined();
    expect(freezerOf(`12:freezer:/docker/${ID}\n`, HYBRID, 'abc')).toBeUndefined();
    expect(freezerOf('', HYBRID, ID)).toBeUndefined();
  });
});

describe('parseFreezerPath', () => {
  it('accepts a journal entry only for a cgroup folder named after that container', () => {
    const dir = `/sys/fs/cgroup/freezer/docker/${ID}`;
    expect(parseFreezerPath({ kind: 'v1', dir }, ID)).toEqual({ kind: 'v1', dir });
    for (const bad of [
      { kind: 'v3', dir },
      { kind: 'v1', dir: `/etc/${ID}` },
      { kind: 'v1', dir: `/sys/fs/cgroup/../../etc/${ID}` },
      { kind: 'v1', dir: '/sys/fs/cgroup/freezer/docker/other' },
      { kind: 'v1', dir: 42 },
      null,
      'x',
    ]) {
      expect(parseFreezerPath(bad, ID)).toBeUndefined();
    }
  });
});
