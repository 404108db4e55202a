import { describe, expect, it } from 'vitest';
import { StorageError } from './errors.js';
import { mountUnitName, systemdEscapePath } from './systemd-escape.js';

describe('systemdEscapePath', () => {
  // Expected values printed by systemd-escape 252 (`systemd-escape --path -- <path>`).
  it.each([
    ['/', '-'],
    ['/var/lib/x', 'var-lib-x'],
    ['/var/lib/buttervolume', 'var-lib-buttervolume'],
    ['/a b/ü', 'a\\x20b-\\xc3\\xbc'],
    ['/.dot/x-y', '\\x2edot-x\\x2dy'],
    ['//foo//bar/', 'foo-bar'],
    ['/foo/./bar', 'foo-bar'],
    ['/a\\b', 'a\\x5cb'],
    ['/srv/bv:data_1.d', 'srv-bv:data_1.d'],
    ['/mnt/a.b/.c', 'mnt-a.b-.c'],
  ])('escapes %j as %j', (path, expected) => {
    expect(systemdEscapePath(path)).toBe(expected);
  });

  it('names the mount unit after the escaped path', () => {
    expect(mountUnitName('/var/lib/buttervolume')).toBe('var-lib-buttervolume.mount');
  });

  it.each(['relative/path', '/a/../b', ''])('refuses %j', (path) => {
    expect(() => systemdEscapePath(path)).toThrow(StorageError);
  });
});
