import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rmdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Btrfs,
  BtrfsCommandError,
  NoSuchPathError,
  NotASubvolumeError,
  NotBtrfsError,
} from '../../src/index.js';

const btrfs = new Btrfs();
let fs: LoopBtrfs;
let counter = 0;
async function scratch(): Promise<string> {
  const dir = join(fs.mountPoint, `t${++counter}`);
  await mkdir(dir);
  return dir;
}

/** `btrfs subvolume show`'s creation time: the reference the new primitives must agree with. */
async function shown(path: string): Promise<Date | undefined> {
  return (await btrfs.show(path)).creationTime;
}

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'chattr', 'lsattr', 'mount', 'umount']);
  fs = await createLoopBtrfs({ sizeMiB: 256 });
});
afterAll(async () => {
  await fs?.cleanup();
});

describe('snapshotTimes', () => {
  it('gives every snapshot under the folder its own creation time, and omits fresh subvolumes', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    await sleep(1100); // otime has whole seconds: make the snapshots' differ from the source's
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'clone'), { readonly: false });
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@ro'), { readonly: true });
    await mkdir(join(dir, 'deeper'));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'deeper', 'nested'), { readonly: true });
    const outside = await scratch();
    await btrfs.snapshot(join(dir, 'vol'), join(outside, 'elsewhere'), { readonly: true });

    const times = await btrfs.snapshotTimes(dir);
    expect([...times.keys()].sort()).toEqual(
      [join(dir, 'clone'), join(dir, 'deeper', 'nested'), join(dir, 'vol@ro')].sort(),
    );
    for (const [path, time] of times) expect(time).toEqual(await shown(path));
    const source = (await shown(join(dir, 'vol')))!;
    expect(times.get(join(dir, 'clone'))!.getTime()).toBeGreaterThan(source.getTime());
    // The fact this exists for: a snapshot's root folder is born with its source.
    expect((await stat(join(dir, 'clone'))).birthtimeMs).toBe(
      (await stat(join(dir, 'vol'))).birthtimeMs,
    );
  });

  it('reads otime as UTC whatever the time zone of the process', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'snap'), { readonly: true });
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect((await btrfs.snapshotTimes(dir)).get(join(dir, 'snap'))).toEqual(
        await shown(join(dir, 'snap')),
      );
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('maps paths through a subvol= mount and a symlink, when the folder is not the top level', async () => {
    const top = await scratch();
    await btrfs.createSubvolume(join(top, '@'));
    await mkdir(join(top, '@', 'volumes'));
    await btrfs.createSubvolume(join(top, '@', 'volumes', 'a'));
    await btrfs.snapshot(join(top, '@', 'volumes', 'a'), join(top, '@', 'volumes', 'b c'));
    const suffix = randomBytes(4).toString('hex');
    const mountPoint = join(fs.dir, `bv-sub ${suffix}`);
    const link = join(fs.dir, `bv-link-${suffix}`);
    await mkdir(mountPoint);
    const subvol = `${top.slice(fs.mountPoint.length + 1)}/@`;
    await execa('mount', ['-t', 'btrfs', '-o', `subvol=${subvol}`, '--', fs.device, mountPoint]);
    try {
      const volumes = join(mountPoint, 'volumes');
      const expected = await shown(join(volumes, 'b c'));
      expect(await btrfs.snapshotTimes(volumes)).toEqual(
        new Map([[join(volumes, 'b c'), expected]]),
      );
      await symlink(volumes, link);
      expect(await btrfs.snapshotTimes(link)).toEqual(new Map([[join(link, 'b c'), expected]]));
      // Through the top-level mount, the same snapshot under its other name.
      expect(await btrfs.snapshotTimes(join(top, '@', 'volumes'))).toEqual(
        new Map([[join(top, '@', 'volumes', 'b c'), expected]]),
      );
    } finally {
      await execa('umount', ['--', mountPoint]);
      await rmdir(mountPoint);
    }
  });

  it('keeps hostile names whole', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'src'));
    const names = [
      '-rf',
      '$(touch bv-p)',
      `a "b" 'c'`,
      'with space',
      'x'.repeat(255),
      'nl\nID 5 x',
    ];
    for (const name of names) await btrfs.snapshot(join(dir, 'src'), join(dir, name));
    const times = await btrfs.snapshotTimes(dir);
    expect([...times.keys()].sort()).toEqual(names.map((n) => join(dir, n)).sort());
    expect(existsSync(join(dir, 'bv-p'))).toBe(false);
  });

  it('refuses a missing folder and one not on btrfs', async () => {
    const dir = await scratch();
    await expect(btrfs.snapshotTimes(join(dir, 'missing'))).rejects.toBeInstanceOf(NoSuchPathError);
    await expect(btrfs.snapshotTimes(fs.dir)).rejects.toBeInstanceOf(NotBtrfsError);
  });
});

describe('createdAt', () => {
  it('is the creation time btrfs shows, for a fresh subvolume and for a later snapshot of it', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    await sleep(1100);
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'snap'), { readonly: false });
    const vol = await btrfs.createdAt(join(dir, 'vol'));
    const snap = await btrfs.createdAt(join(dir, 'snap'));
    expect(vol).toEqual(await shown(join(dir, 'vol')));
    expect(snap).toEqual(await shown(join(dir, 'snap')));
    expect(snap.getTime()).toBeGreaterThan(vol.getTime());
  });

  it('refuses what is not a subvolume', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'plain'));
    await expect(btrfs.createdAt(join(dir, 'plain'))).rejects.toBeInstanceOf(NotASubvolumeError);
    await expect(btrfs.createdAt(join(dir, 'missing'))).rejects.toBeInstanceOf(NoSuchPathError);
  });
});

describe('nocowFlags', () => {
  it('answers for 1,100 paths, more than one lsattr batch, leaving out missing ones', async () => {
    const dir = await scratch();
    const paths: string[] = [];
    for (let i = 0; i < 1100; i++) {
      paths.push(join(dir, `d${i}`));
      await mkdir(join(dir, `d${i}`));
    }
    const nocow = [0, 999, 1000, 1099].map((i) => join(dir, `d${i}`));
    for (const path of nocow) await execa('chattr', ['+C', '--', path]);
    const missing = [join(dir, 'gone'), join(dir, 'd0', 'no', 'such')];
    const flags = await btrfs.nocowFlags([...missing, ...paths]);
    expect(flags.size).toBe(1100);
    for (const path of paths) expect(flags.get(path)).toBe(nocow.includes(path));
    for (const path of missing) expect(flags.has(path)).toBe(false);
  });

  it('keys the answer by the paths as given, hostile names and relative paths included', async () => {
    const dir = await scratch();
    const names = ['-rf', '--help', '$(touch bv-p)', `a "b" 'c'`, 'with space', 'nl\nx'];
    for (const name of names) await btrfs.createSubvolume(join(dir, name), { nocow: true });
    await btrfs.createSubvolume(join(dir, 'cow'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const flags = await btrfs.nocowFlags([...names, 'cow', join(dir, 'cow')]);
      expect(flags).toEqual(
        new Map([
          ...names.map((name): [string, boolean] => [name, true]),
          ['cow', false],
          [join(dir, 'cow'), false],
        ]),
      );
    } finally {
      process.chdir(cwd);
    }
    expect(existsSync(join(dir, 'bv-p'))).toBe(false);
    expect(await btrfs.nocowFlags([])).toEqual(new Map());
  });

  it('fails with the command and stderr when lsattr cannot read a path that exists', async () => {
    const error = await btrfs
      .nocowFlags([fs.mountPoint, '/proc/self/status'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect((error as BtrfsCommandError).stderr).toMatch(/\/proc\/self\/status/);
    const broken = new Btrfs({ lsattrPath: '/nonexistent/lsattr' });
    await expect(broken.nocowFlags([fs.mountPoint])).rejects.toBeInstanceOf(BtrfsCommandError);
  });
});
