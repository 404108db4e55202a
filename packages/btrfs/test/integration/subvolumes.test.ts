import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lstatPaths } from '@buttervolume/spawner';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  Btrfs,
  BtrfsCommandError,
  BtrfsError,
  isBtrfs,
  NestedSubvolumesError,
  NoSuchPathError,
  NotASubvolumeError,
  NotBtrfsError,
  PermissionError,
} from '../../src/index.js';
import { checkSubvolumes } from '../../src/inspect.js';

const btrfs = new Btrfs();
let fs: LoopBtrfs;
let counter = 0;
/** A fresh folder per test, so tests in this file never see each other's subvolumes. */
async function scratch(): Promise<string> {
  const dir = join(fs.mountPoint, `t${++counter}`);
  await mkdir(dir);
  return dir;
}

async function lsattrHasC(path: string): Promise<boolean> {
  const { stdout } = await execa('lsattr', ['-d', '--', path]);
  return (stdout.split(/\s/, 1)[0] ?? '').includes('C');
}

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'chattr', 'lsattr']);
  fs = await createLoopBtrfs({ sizeMiB: 256 });
});
afterAll(async () => {
  await fs?.cleanup();
});

describe('subvolumes', () => {
  it('creates, recognises and deletes a subvolume', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    expect(await btrfs.isSubvolume(vol)).toBe(true);
    expect((await stat(vol)).ino).toBe(256);
    await writeFile(join(vol, 'data'), 'x');
    await btrfs.deleteSubvolume(vol);
    expect(existsSync(vol)).toBe(false);
  });

  it('does not take plain folders, files, symlinks, missing paths or other filesystems for subvolumes', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'plain'));
    await writeFile(join(dir, 'file'), '');
    await btrfs.createSubvolume(join(dir, 'vol'));
    await symlink(join(dir, 'vol'), join(dir, 'link'));
    expect(await btrfs.isSubvolume(join(dir, 'plain'))).toBe(false);
    expect(await btrfs.isSubvolume(join(dir, 'file'))).toBe(false);
    expect(await btrfs.isSubvolume(join(dir, 'link'))).toBe(false);
    expect(await btrfs.isSubvolume(join(dir, 'missing'))).toBe(false);
    expect(await btrfs.isSubvolume(fs.dir)).toBe(false);
    // The top-level subvolume (the mount point) is a subvolume too.
    expect(await btrfs.isSubvolume(fs.mountPoint)).toBe(true);
    expect(await isBtrfs(fs.mountPoint)).toBe(true);
    expect(await isBtrfs(fs.dir)).toBe(false);
    expect(await isBtrfs(join(dir, 'missing'))).toBe(false);
  });

  it('subvolumeRoot: the root’s stats for a subvolume, and a path whose subvolume is replaced or covered is looked at afresh', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    const first = await btrfs.subvolumeRoot(vol);
    expect(first?.ino).toBe(256n);
    expect((await btrfs.subvolumeRoot(vol))?.birthtimeNs).toBe(first?.birthtimeNs);
    // Replaced by a plain folder, then by another subvolume: each answered as it is now.
    await btrfs.deleteSubvolume(vol);
    expect(await btrfs.subvolumeRoot(vol)).toBeUndefined();
    await mkdir(vol);
    expect(await btrfs.subvolumeRoot(vol)).toBeUndefined();
    await execa('rmdir', ['--', vol]);
    await btrfs.createSubvolume(vol);
    const second = await btrfs.subvolumeRoot(vol);
    expect(second?.ino).toBe(256n);
    // Another filesystem mounted over it is no subvolume.
    await execa('mount', ['-t', 'tmpfs', 'bv-test', vol]);
    try {
      expect(await btrfs.subvolumeRoot(vol)).toBeUndefined();
    } finally {
      await execa('umount', [vol]);
    }
    expect((await btrfs.subvolumeRoot(vol))?.birthtimeNs).toBe(second?.birthtimeNs);
    for (const path of [join(dir, 'missing'), fs.dir]) {
      expect(await btrfs.subvolumeRoot(path)).toBeUndefined();
    }
  });

  it('lists only the direct children that are subvolumes, sorted', async () => {
    const dir = await scratch();
    for (const name of ['b', 'a', 'c@2026-01-01T00:00:00.000000']) {
      await btrfs.createSubvolume(join(dir, name));
    }
    await btrfs.createSubvolume(join(dir, 'a', 'nested'));
    await mkdir(join(dir, 'plain'));
    await writeFile(join(dir, 'metadata.db'), '');
    await symlink(join(dir, 'a'), join(dir, 'link'));
    expect(await btrfs.listSubvolumes(dir)).toEqual(['a', 'b', 'c@2026-01-01T00:00:00.000000']);
    expect(await btrfs.listSubvolumes(join(dir, 'plain'))).toEqual([]);
    await expect(btrfs.listSubvolumes(join(dir, 'missing'))).rejects.toBeInstanceOf(
      NoSuchPathError,
    );
  });

  it('snapshots read-only and writable, and deletes read-only snapshots', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await writeFile(join(vol, 'f'), 'one');
    await btrfs.snapshot(vol, join(dir, 'ro'), { readonly: true });
    await btrfs.snapshot(vol, join(dir, 'rw'), { readonly: false });
    expect(await readFile(join(dir, 'ro', 'f'), 'utf8')).toBe('one');
    expect(await btrfs.isReadOnly(join(dir, 'ro'))).toBe(true);
    expect(await btrfs.isReadOnly(join(dir, 'rw'))).toBe(false);
    await expect(writeFile(join(dir, 'ro', 'f'), 'two')).rejects.toMatchObject({ code: 'EROFS' });
    await btrfs.deleteSubvolume(join(dir, 'ro'));
    expect(existsSync(join(dir, 'ro'))).toBe(false);
  });

  it('shows UUIDs and the parent relationship of a snapshot', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await btrfs.snapshot(vol, join(dir, 'snap'), { readonly: true });
    const volInfo = await btrfs.show(vol);
    const snapInfo = await btrfs.show(join(dir, 'snap'));
    expect(volInfo.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(volInfo.parentUuid).toBeUndefined();
    expect(volInfo.readonly).toBe(false);
    expect(volInfo.id).toBeGreaterThanOrEqual(256);
    expect(snapInfo.parentUuid).toBe(volInfo.uuid);
    expect(snapInfo.receivedUuid).toBeUndefined();
    expect(snapInfo.readonly).toBe(true);
    expect(snapInfo.id).not.toBe(volInfo.id);
    expect(snapInfo.path).toBe(join(dir, 'snap'));
    const age = Date.now() - (snapInfo.creationTime?.getTime() ?? 0);
    expect(age).toBeGreaterThanOrEqual(-2000);
    expect(age).toBeLessThan(120_000);
  });

  it('flips the read-only property both ways', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await btrfs.setReadOnly(vol, true);
    expect(await btrfs.isReadOnly(vol)).toBe(true);
    expect((await btrfs.show(vol)).readonly).toBe(true);
    await btrfs.setReadOnly(vol, false);
    expect(await btrfs.isReadOnly(vol)).toBe(false);
    await writeFile(join(vol, 'f'), 'ok');
  });

  it('creates nocow subvolumes whose new files inherit No_COW, and normal ones without', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'db'), { nocow: true });
    await btrfs.createSubvolume(join(dir, 'cow'), { nocow: false });
    await btrfs.createSubvolume(join(dir, 'default'));
    await writeFile(join(dir, 'db', 'table'), 'rows');
    expect(await lsattrHasC(join(dir, 'db'))).toBe(true);
    expect(await lsattrHasC(join(dir, 'db', 'table'))).toBe(true);
    expect(await lsattrHasC(join(dir, 'cow'))).toBe(false);
    expect(await btrfs.isNocow(join(dir, 'db'))).toBe(true);
    expect(await btrfs.isNocow(join(dir, 'db', 'table'))).toBe(true);
    expect(await btrfs.isNocow(join(dir, 'cow'))).toBe(false);
    expect(await btrfs.isNocow(join(dir, 'default'))).toBe(false);
    await expect(btrfs.isNocow(join(dir, 'missing'))).rejects.toBeInstanceOf(NoSuchPathError);
  });

  it('commits with syncFilesystem', async () => {
    await btrfs.syncFilesystem(fs.mountPoint);
    await expect(btrfs.syncFilesystem(join(fs.mountPoint, 'missing'))).rejects.toBeInstanceOf(
      NoSuchPathError,
    );
  });
});

describe('nested subvolumes (Docker-in-Docker with the btrfs driver makes them)', () => {
  /** vol/inner, vol/inner/x (read-only), vol/a/b/deep, and a read-only vol/ro holding vol/ro/in. */
  async function nestedTree(dir: string): Promise<string> {
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await btrfs.createSubvolume(join(vol, 'inner'));
    await writeFile(join(vol, 'inner', 'file'), 'x');
    await btrfs.createSubvolume(join(vol, 'inner', 'x'));
    await btrfs.setReadOnly(join(vol, 'inner', 'x'), true);
    await mkdir(join(vol, 'a', 'b'), { recursive: true });
    await btrfs.createSubvolume(join(vol, 'a', 'b', 'deep'));
    await btrfs.createSubvolume(join(vol, 'ro'));
    await btrfs.createSubvolume(join(vol, 'ro', 'in'));
    await btrfs.setReadOnly(join(vol, 'ro'), true);
    return vol;
  }

  it('lists every nested subvolume at any depth, deepest first, and nothing beside', async () => {
    const dir = await scratch();
    const vol = await nestedTree(dir);
    await btrfs.createSubvolume(join(dir, 'beside'));
    expect(await btrfs.subvolumesBelow(vol)).toEqual([
      join(vol, 'a', 'b', 'deep'),
      join(vol, 'inner', 'x'),
      join(vol, 'ro', 'in'),
      join(vol, 'inner'),
      join(vol, 'ro'),
    ]);
    expect(await btrfs.subvolumesBelow(join(vol, 'a', 'b', 'deep'))).toEqual([]);
  });

  it('refuses a plain delete with NestedSubvolumesError, changing nothing', async () => {
    const vol = await nestedTree(await scratch());
    const error = await btrfs.deleteSubvolume(vol).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NestedSubvolumesError);
    expect((error as NestedSubvolumesError).code).toBe('BTRFS_NESTED_SUBVOLUMES');
    expect(await btrfs.subvolumesBelow(vol)).toHaveLength(5);
    expect(await readFile(join(vol, 'inner', 'file'), 'utf8')).toBe('x');
  });

  it('deletes recursively bottom-up, read-only holders included, and says what it deleted', async () => {
    const dir = await scratch();
    const vol = await nestedTree(dir);
    const deleted = await btrfs.deleteSubvolume(vol, { recursive: true });
    expect(deleted).toHaveLength(5);
    expect(existsSync(vol)).toBe(false);
    // A subvolume without nested ones takes the one-process path and answers nothing nested.
    await btrfs.createSubvolume(join(dir, 'plain'));
    expect(await btrfs.deleteSubvolume(join(dir, 'plain'), { recursive: true })).toEqual([]);
  });
});

describe('hostile paths are names, never options or shell', () => {
  const marker = `bv-pwned-${randomBytes(4).toString('hex')}`;
  const names = [
    '-r',
    '--help',
    '-dash vol',
    `with space "double" 'single'`,
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `x; touch ${marker} #`,
    'ünïcode\tand\ttabs',
  ];

  it.each(names)('handles %j literally through every operation', async (name) => {
    const dir = await scratch();
    const vol = join(dir, name);
    const snap = join(dir, `${name}@snap`);
    await btrfs.createSubvolume(vol, { nocow: true });
    await writeFile(join(vol, 'f'), name);
    await btrfs.snapshot(vol, snap, { readonly: true });
    expect(await btrfs.listSubvolumes(dir)).toEqual([name, `${name}@snap`].sort());
    expect(await btrfs.isNocow(vol)).toBe(true);
    expect(await btrfs.isReadOnly(snap)).toBe(true);
    expect((await btrfs.show(snap)).parentUuid).toBe((await btrfs.show(vol)).uuid);
    await btrfs.setReadOnly(vol, true);
    await btrfs.setReadOnly(vol, false);
    expect(await readFile(join(snap, 'f'), 'utf8')).toBe(name);
    await btrfs.deleteSubvolume(snap);
    const copy = join(dir, `${name}@copy`);
    await btrfs.snapshot(vol, copy, { readonly: true });
    expect(await btrfs.deleteSubvolumes([copy, vol])).toEqual({ deleted: [copy, vol], failed: [] });
    expect(await btrfs.listSubvolumes(dir)).toEqual([]);
    expect(existsSync(join(process.cwd(), marker))).toBe(false);
    expect(existsSync(join(dir, marker))).toBe(false);
  });

  it('accepts relative paths starting with a dash', async () => {
    const dir = await scratch();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await btrfs.createSubvolume('-v');
      await btrfs.snapshot('-v', '--', { readonly: true });
      expect(await btrfs.listSubvolumes('.')).toEqual(['--', '-v']);
      await btrfs.snapshot('-v', '-rf', { readonly: true });
      expect(await btrfs.deleteSubvolumes(['-rf', '--'])).toEqual({
        deleted: ['-rf', '--'],
        failed: [],
      });
      await btrfs.deleteSubvolume('-v');
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('typed errors', () => {
  it('refuses to create over an existing path, before spawning anything', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'taken'));
    const error = await btrfs.createSubvolume(join(dir, 'taken')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect(error).toMatchObject({ code: 'BTRFS_ALREADY_EXISTS', path: join(dir, 'taken') });
    expect((error as BtrfsError).command).toBeUndefined();
  });

  it('refuses to snapshot into an existing folder instead of nesting the snapshot in it', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    await mkdir(join(dir, 'existing'));
    await expect(btrfs.snapshot(join(dir, 'vol'), join(dir, 'existing'))).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
    expect(await btrfs.listSubvolumes(join(dir, 'existing'))).toEqual([]);
  });

  it('says which path is missing or not a subvolume', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'plain'));
    await expect(btrfs.deleteSubvolume(join(dir, 'plain'))).rejects.toBeInstanceOf(
      NotASubvolumeError,
    );
    await expect(btrfs.deleteSubvolume(join(dir, 'missing'))).rejects.toMatchObject({
      code: 'BTRFS_NO_SUCH_PATH',
      path: join(dir, 'missing'),
    });
    await expect(btrfs.snapshot(join(dir, 'plain'), join(dir, 's'))).rejects.toBeInstanceOf(
      NotASubvolumeError,
    );
    await expect(btrfs.show(join(dir, 'plain'))).rejects.toBeInstanceOf(NotASubvolumeError);
    await expect(btrfs.createSubvolume(join(dir, 'no', 'parent'))).rejects.toBeInstanceOf(
      NoSuchPathError,
    );
    await expect(btrfs.createSubvolume(join(fs.dir, 'not-on-btrfs'))).rejects.toBeInstanceOf(
      NotBtrfsError,
    );
  });

  it('carries command line, exit code and stderr when btrfs itself fails', async () => {
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await btrfs.createSubvolume(join(vol, 'nested'));
    // A subvolume holding another one cannot be deleted: btrfs says so, we pass it on.
    const error = await btrfs.deleteSubvolume(vol).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsError);
    const failed = error as BtrfsError;
    expect(failed.command).toEqual(['btrfs', 'subvolume', 'delete', '--', vol]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/ERROR/);
    expect(failed.message).toContain(failed.stderr.trim());
  });

  it('deletes many subvolumes in one go, read-only snapshots included', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    const paths: string[] = [];
    for (let i = 0; i < 30; i++) {
      paths.push(join(dir, `s${i}`));
      await btrfs.snapshot(join(dir, 'vol'), join(dir, `s${i}`), { readonly: i % 2 === 0 });
    }
    const result = await btrfs.deleteSubvolumes([...paths, paths[0]!]);
    expect(result).toEqual({ deleted: paths, failed: [] });
    expect(await btrfs.listSubvolumes(dir)).toEqual(['vol']);
    expect(await btrfs.deleteSubvolumes([])).toEqual({ deleted: [], failed: [] });
  });

  it('lets the event loop run while it checks thousands of paths', async () => {
    // The checks are synchronous syscalls (fast one by one): 2,000 of them in one go stalled
    // every Docker call during a purge. Here none exists, so no delete process runs at all.
    const dir = await scratch();
    const paths = Array.from({ length: 2000 }, (_, i) => join(dir, `missing-${i}`));
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const result = await btrfs.deleteSubvolumes(paths);
    counting = false;
    expect(result.failed).toHaveLength(2000);
    expect(result.failed[0]?.error).toBeInstanceOf(NoSuchPathError);
    expect(turns).toBeGreaterThanOrEqual(5);
  });

  it('names exactly the subvolumes a batch could not delete, each with its own error', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    const names = ['a', 'b', 'default', 'c', 'holder', 'd'];
    for (const name of names) await btrfs.snapshot(join(dir, 'vol'), join(dir, name));
    await btrfs.createSubvolume(join(dir, 'holder', 'nested'));
    await mkdir(join(dir, 'plain'));
    // The kernel refuses to delete the default subvolume, and btrfs-progs then goes on with
    // the next path: a failure in the middle of a batch, found only by the process itself.
    const { stdout: id } = await execa('btrfs', [
      'inspect-internal',
      'rootid',
      join(dir, 'default'),
    ]);
    await execa('btrfs', ['subvolume', 'set-default', id.trim(), fs.mountPoint]);
    try {
      const asked = [...names, 'plain', 'missing'].map((name) => join(dir, name));
      const result = await btrfs.deleteSubvolumes(asked);
      expect(result.deleted).toEqual(['a', 'b', 'c', 'd'].map((name) => join(dir, name)));
      expect(result.failed.map((f) => f.path)).toEqual(
        ['default', 'holder', 'plain', 'missing'].map((name) => join(dir, name)),
      );
      const [byDefault, byNested, byPlain, byMissing] = result.failed.map((f) => f.error);
      expect(byDefault).toMatchObject({
        command: ['btrfs', 'subvolume', 'delete', '--', join(dir, 'default')],
        exitCode: 1,
      });
      expect((byDefault as BtrfsError).stderr).toMatch(/default subvolume/);
      expect(byNested).toBeInstanceOf(NestedSubvolumesError);
      expect(byPlain).toBeInstanceOf(NotASubvolumeError);
      expect(byMissing).toBeInstanceOf(NoSuchPathError);
      expect(await btrfs.listSubvolumes(dir)).toEqual(['default', 'holder', 'vol']);
    } finally {
      await execa('btrfs', ['subvolume', 'set-default', '5', fs.mountPoint]);
    }
  });

  it("answers alike from the spawner's lstat calls and from its own (should the spawner die)", async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'vol'));
    await mkdir(join(dir, 'plain'));
    await writeFile(join(dir, 'file'), '');
    await symlink(join(dir, 'vol'), join(dir, 'link'));
    const paths = ['vol', 'plain', 'file', 'link', 'missing', 'file/below'].map((name) =>
      join(dir, name),
    );
    const expected = [
      undefined,
      NotASubvolumeError,
      NotASubvolumeError,
      NotASubvolumeError,
      NoSuchPathError,
      NoSuchPathError,
    ];
    const kinds = (errors: (Error | undefined)[]) => errors.map((error) => error?.constructor);
    const own = await checkSubvolumes(paths, new Set(), 4);
    const spawned = await checkSubvolumes(paths, new Set(), 4, await lstatPaths(paths));
    expect(kinds(own)).toEqual(expected);
    expect(kinds(spawned)).toEqual(expected);
    // A btrfs subvolume seen through a folder on another filesystem is no subvolume of ours.
    const other = await mkdtemp(join(tmpdir(), 'bv-not-btrfs-'));
    try {
      await mkdir(join(other, 'sub'));
      const fake = [{ ino: 256, mode: constants.S_IFDIR | 0o755 }];
      const [error] = await checkSubvolumes([join(other, 'sub')], new Set(), 4, fake);
      expect(error).toBeInstanceOf(NotASubvolumeError);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("checks a path that is a mount point on its own filesystem, not on its folder's", async () => {
    // Paths that are no mount point share their folder's statfs (one per folder): a subvolume
    // bind-mounted into a tmpfs folder is a btrfs subvolume root all the same, so it reaches
    // btrfs, which refuses to delete it there; the subvolume behind it is untouched.
    const dir = await scratch();
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await writeFile(join(vol, 'data'), 'kept');
    const outside = await mkdtemp(join(tmpdir(), 'bv-tmpfs-'));
    const point = join(outside, 'mounted');
    await execa('mount', ['-t', 'tmpfs', 'none', outside]);
    try {
      await mkdir(point);
      await execa('mount', ['--bind', vol, point]);
      try {
        const result = await btrfs.deleteSubvolumes([point]);
        expect(result.deleted).toEqual([]);
        expect(result.failed[0]?.error).not.toBeInstanceOf(NotASubvolumeError);
        expect(result.failed[0]?.error).toBeInstanceOf(BtrfsError);
      } finally {
        await execa('umount', [point]);
      }
    } finally {
      await execa('umount', [outside]);
      await rm(outside, { recursive: true, force: true });
    }
    expect(await readFile(join(vol, 'data'), 'utf8')).toBe('kept');
  });

  it('a batch whose btrfs cannot start deletes nothing and says why for every path', async () => {
    const dir = await scratch();
    await btrfs.createSubvolume(join(dir, 'x'));
    await btrfs.createSubvolume(join(dir, 'y'));
    const broken = new Btrfs({ btrfsPath: '/nonexistent/btrfs' });
    const result = await broken.deleteSubvolumes([join(dir, 'x'), join(dir, 'y')]);
    expect(result.deleted).toEqual([]);
    expect(result.failed.map((f) => f.path)).toEqual([join(dir, 'x'), join(dir, 'y')]);
    for (const { error } of result.failed) expect(error.message).toMatch(/nonexistent\/btrfs/);
    expect(await btrfs.listSubvolumes(dir)).toEqual(['x', 'y']);
  });

  it('reports a missing btrfs binary with the path it tried', async () => {
    const dir = await scratch();
    const broken = new Btrfs({ btrfsPath: '/nonexistent/btrfs' });
    const error = await broken.createSubvolume(join(dir, 'v')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect((error as BtrfsCommandError).command[0]).toBe('/nonexistent/btrfs');
  });

  it('maps EPERM to PermissionError', async () => {
    const dir = await scratch();
    const locked = join(dir, 'locked');
    await mkdir(locked);
    // Even root may not add entries to an immutable folder: the kernel answers EPERM.
    await execa('chattr', ['+i', '--', locked]);
    try {
      const error = await btrfs.createSubvolume(join(locked, 'vol')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermissionError);
      expect((error as PermissionError).stderr).toMatch(/Operation not permitted/);
      expect((error as PermissionError).code).toBe('BTRFS_PERMISSION');
    } finally {
      await execa('chattr', ['-i', '--', locked]);
    }
  });
});
