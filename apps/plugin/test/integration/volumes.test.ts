import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Caller,
  createFixture,
  type Fixture,
  inProcess,
  mountInOtherNamespace,
} from './helpers.js';

describe('volume endpoints (in process, real btrfs)', () => {
  let fx: Fixture;
  let call: Caller;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'lsattr', 'chattr', 'dd']);
    fx = await createFixture(1024);
    ({ call } = await inProcess(fx.config));
  });
  afterAll(async () => fx?.cleanup());

  it('answers the handshake, capabilities and version', async () => {
    expect((await call('/Plugin.Activate')).json).toEqual({ Implements: ['VolumeDriver'] });
    expect((await call('/VolumeDriver.Capabilities')).json).toEqual({
      Capabilities: { Scope: 'local' },
    });
    const version = await call('/Buttervolume.Version', undefined, 'GET');
    expect(version.json).toEqual({ Err: '', Version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('answers an unknown path with HTTP 404 and Err', async () => {
    const res = await call('/VolumeDriver.Nope', {});
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ Err: 'unknown endpoint /VolumeDriver.Nope' });
  });

  it('creates a subvolume, lists it, and treats a second Create as success', async () => {
    expect((await call('/VolumeDriver.Create', { Name: 'vol1', Opts: {} })).json).toEqual({
      Err: '',
    });
    expect((await lstat(join(fx.volumesPath, 'vol1'))).ino).toBe(256);
    expect((await call('/VolumeDriver.Create', { Name: 'vol1' })).json).toEqual({ Err: '' });
    const list = await call('/VolumeDriver.List');
    expect(list.json.Err).toBe('');
    expect(list.json.Volumes).toContainEqual({
      Name: 'vol1',
      Mountpoint: join(fx.volumesPath, 'vol1'),
    });
  });

  it('lists only real subvolumes: stray folders, files and metadata.db are not volumes', async () => {
    await execa('mkdir', ['--', join(fx.volumesPath, 'plaindir')]);
    await writeFile(join(fx.volumesPath, 'metadata.db'), 'x');
    await writeFile(join(fx.volumesPath, 'somefile'), 'x');
    const names = ((await call('/VolumeDriver.List')).json.Volumes as { Name: string }[]).map(
      (v) => v.Name,
    );
    expect(names).toContain('vol1');
    expect(names).not.toContain('plaindir');
    expect(names).not.toContain('metadata.db');
    expect(names).not.toContain('somefile');
    expect((await call('/VolumeDriver.Get', { Name: 'plaindir' })).json.Err).toBe(
      'plaindir: no such volume',
    );
    // A plain folder in the way is reported, not turned into a nested volume.
    const create = await call('/VolumeDriver.Create', { Name: 'plaindir' });
    expect(create.json.Err).toMatch(/not a btrfs subvolume/);
  });

  it('sees a volume created behind its back (the List cache follows the folder)', async () => {
    await call('/VolumeDriver.List');
    await execa('btrfs', ['subvolume', 'create', '--', join(fx.volumesPath, 'external1')]);
    const names = ((await call('/VolumeDriver.List')).json.Volumes as { Name: string }[]).map(
      (v) => v.Name,
    );
    expect(names).toContain('external1');
  });

  it('mounts, answers Path, and unmounts; missing volumes get 3.x’s message', async () => {
    const mount = await call('/VolumeDriver.Mount', { Name: 'vol1', ID: 'c1' });
    expect(mount.json).toEqual({ Mountpoint: join(fx.volumesPath, 'vol1'), Err: '' });
    expect((await call('/VolumeDriver.Path', { Name: 'vol1' })).json).toEqual(mount.json);
    expect((await call('/VolumeDriver.Mount', { Name: 'nope1', ID: 'c1' })).json.Err).toBe(
      'nope1: no such volume',
    );
    expect((await call('/VolumeDriver.Path', { Name: 'nope1' })).json.Err).toBe(
      'nope1: no such volume',
    );
    expect((await call('/VolumeDriver.Unmount', { Name: 'nope1', ID: 'c1' })).json).toEqual({
      Err: '',
    });
    expect((await call('/VolumeDriver.Unmount', { Name: 'vol1', ID: 'c1' })).json).toEqual({
      Err: '',
    });
  });

  it('refuses to remove a volume mounted in another mount namespace unless forced, mount ID or not', async () => {
    await call('/VolumeDriver.Create', { Name: 'busy1' });
    const path = join(fx.volumesPath, 'busy1');
    // A container the daemon never heard of (started under 3.x, or mounts.json lost).
    const elsewhere = await mountInOtherNamespace(path);
    try {
      const refused = await call('/VolumeDriver.Remove', { Name: 'busy1' });
      expect(refused.json.Err).toBe(
        `busy1 is mounted in 1 place(s) (${elsewhere.mountPoint} as seen by pid ${elsewhere.pid}); stop them first or pass Force`,
      );
      await call('/VolumeDriver.Mount', { Name: 'busy1', ID: 'abc123' });
      expect((await call('/VolumeDriver.Remove', { Name: 'busy1' })).json.Err).toMatch(
        /^busy1 is mounted by 1 container\(s\) \(abc123\) and in 1 place\(s\)/,
      );
      expect((await lstat(path)).ino).toBe(256);
    } finally {
      await elsewhere.release();
    }
    await call('/VolumeDriver.Unmount', { Name: 'busy1', ID: 'abc123' });
    expect((await call('/VolumeDriver.Remove', { Name: 'busy1' })).json).toEqual({ Err: '' });
    await call('/VolumeDriver.Create', { Name: 'busy2' });
    await call('/VolumeDriver.Mount', { Name: 'busy2', ID: 'x' });
    expect((await call('/VolumeDriver.Remove', { Name: 'busy2', Force: true })).json).toEqual({
      Err: '',
    });
    await expect(lstat(join(fx.volumesPath, 'busy2'))).rejects.toThrow(/ENOENT/);
  });

  it("drops a stale mount ID (its Unmount was missed) so that Docker's Remove succeeds", async () => {
    await call('/VolumeDriver.Create', { Name: 'stale1' });
    await call('/VolumeDriver.Mount', { Name: 'stale1', ID: 'gone-container' });
    // Mounted nowhere: Docker, which sends no Force, removes it.
    expect((await call('/VolumeDriver.Remove', { Name: 'stale1' })).json).toEqual({ Err: '' });
    await expect(lstat(join(fx.volumesPath, 'stale1'))).rejects.toThrow(/ENOENT/);
    // The ID went with it: a new volume of that name starts unmounted.
    await call('/VolumeDriver.Create', { Name: 'stale1' });
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'stale1' })).json.Snapshot;
    expect((await call('/VolumeDriver.Snapshot.Restore', { Name: snap })).json.Err).toBe('');
  });

  it('removes a volume; removing it again says no such volume', async () => {
    await call('/VolumeDriver.Create', { Name: 'gone1' });
    expect((await call('/VolumeDriver.Remove', { Name: 'gone1' })).json).toEqual({ Err: '' });
    expect((await call('/VolumeDriver.Remove', { Name: 'gone1' })).json.Err).toBe(
      'gone1: no such volume',
    );
    const names = ((await call('/VolumeDriver.List')).json.Volumes as { Name: string }[]).map(
      (v) => v.Name,
    );
    expect(names).not.toContain('gone1');
  });

  it('Get reports the status: creation time, copy-on-write and snapshot count', async () => {
    await call('/VolumeDriver.Create', { Name: 'stat1' });
    await call('/VolumeDriver.Snapshot', { Name: 'stat1' });
    await call('/VolumeDriver.Snapshot', { Name: 'stat1' });
    const res = await call('/VolumeDriver.Get', { Name: 'stat1' });
    const volume = res.json.Volume as Record<string, unknown> & { Status: Record<string, unknown> };
    expect(res.json.Err).toBe('');
    expect(volume.Name).toBe('stat1');
    expect(volume.Mountpoint).toBe(join(fx.volumesPath, 'stat1'));
    expect(Math.abs(Date.parse(volume.CreatedAt as string) - Date.now())).toBeLessThan(60_000);
    expect(volume.Status).toMatchObject({
      CopyOnWrite: true,
      Snapshots: 2,
      CreatedAt: volume.CreatedAt,
    });
  });

  it('copyonwrite=false sets the C attribute (lsattr), and Get says so', async () => {
    expect(
      (await call('/VolumeDriver.Create', { Name: 'nocow1', Opts: { copyonwrite: 'false' } })).json,
    ).toEqual({ Err: '' });
    const { stdout } = await execa('lsattr', ['-d', '--', join(fx.volumesPath, 'nocow1')]);
    expect(stdout.split(/\s/)[0]).toContain('C');
    const plain = await execa('lsattr', ['-d', '--', join(fx.volumesPath, 'vol1')]);
    expect(plain.stdout.split(/\s/)[0]).not.toContain('C');
    const get = await call('/VolumeDriver.Get', { Name: 'nocow1' });
    expect((get.json.Volume as { Status: { CopyOnWrite: boolean } }).Status.CopyOnWrite).toBe(
      false,
    );
  });

  it('compression=zstd|lzo|zlib|true is the btrfs property, in Status, kept by snapshots, clones and restores', async () => {
    const property = async (path: string) =>
      (await execa('btrfs', ['property', 'get', '--', path, 'compression'])).stdout;
    const status = async (Name: string) =>
      (
        (await call('/VolumeDriver.Get', { Name })).json.Volume as {
          Status: Record<string, unknown>;
        }
      ).Status;
    for (const [Name, value, algorithm] of [
      ['zstd1', 'zstd', 'zstd'],
      ['lzo1', 'LZO', 'lzo'],
      ['zlib1', 'zlib', 'zlib'],
      ['true1', 'True', 'zstd'],
    ] as const) {
      const create = await call('/VolumeDriver.Create', { Name, Opts: { compression: value } });
      expect(create.json).toEqual({ Err: '' });
      expect(await property(join(fx.volumesPath, Name))).toBe(`compression=${algorithm}`);
      expect((await status(Name)).Compression).toBe(algorithm);
    }
    expect(
      (await call('/VolumeDriver.Create', { Name: 'false1', Opts: { compression: 'FALSE' } })).json,
    ).toEqual({ Err: '' });
    expect(await property(join(fx.volumesPath, 'false1'))).toBe('');
    expect(await status('false1')).not.toHaveProperty('Compression');

    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'zstd1' })).json.Snapshot as string;
    expect(await property(join(fx.snapshotsPath, snap))).toBe('compression=zstd');
    await call('/VolumeDriver.Create', { Name: 'zclone1', Opts: { from: snap } });
    expect((await status('zclone1')).Compression).toBe('zstd');
    const restored = await call('/VolumeDriver.Snapshot.Restore', { Name: snap, Target: 'zrest1' });
    expect(restored.json.Err).toBe('');
    expect((await status('zrest1')).Compression).toBe('zstd');
  });

  it('refuses an unknown compression value, creating nothing', async () => {
    for (const compression of ['gzip', 'zstd:3', '', 'yes', '$(touch /tmp/p)']) {
      const res = await call('/VolumeDriver.Create', { Name: 'badz1', Opts: { compression } });
      expect(res.json.Err).toMatch(
        /Opts\.compression: expected one of zstd, lzo, zlib, true, false \(true means zstd\)/,
      );
    }
    expect(await readdir(fx.volumesPath)).not.toContain('badz1');
  });

  it('rejects bad option values and unknown options, creating nothing', async () => {
    const bad = await call('/VolumeDriver.Create', {
      Name: 'opt1',
      Opts: { copyonwrite: 'maybe' },
    });
    expect(bad.json.Err).toMatch(
      /Opts\.copyonwrite: expected "true" or "false" \(any case\), got "maybe"/,
    );
    const unknown = await call('/VolumeDriver.Create', {
      Name: 'opt1',
      Opts: { compress: 'zstd' },
    });
    expect(unknown.json.Err).toMatch(
      /unknown option "compress".*copyonwrite, size, from, compression/,
    );
    const size = await call('/VolumeDriver.Create', { Name: 'opt1', Opts: { size: 'lots' } });
    expect(size.json.Err).toMatch(/Opts\.size: expected a size of more than 0 bytes.*"lots"/);
    const zero = await call('/VolumeDriver.Create', { Name: 'opt1', Opts: { size: '0' } });
    expect(zero.json.Err).toMatch(/Opts\.size: expected a size of more than 0 bytes.*"0"/);
    const mistyped = await call('/VolumeDriver.Create', { Name: 'opt1', Opts: { size: 10 } });
    expect(mistyped.json.Err).toMatch(/option "size": expected a string, got number 10/);
    const both = await call('/VolumeDriver.Create', {
      Name: 'opt1',
      Opts: { from: 'orig1', copyonwrite: 'false' },
    });
    expect(both.json.Err).toMatch(/copyonwrite=false cannot be combined with from/);
    await expect(lstat(join(fx.volumesPath, 'opt1'))).rejects.toThrow(/ENOENT/);
  });

  it('size sets a quota: writing past it fails, and Get reports it', async () => {
    const res = await call('/VolumeDriver.Create', { Name: 'quota1', Opts: { size: '20M' } });
    expect(res.json).toEqual({ Err: '' });
    const path = join(fx.volumesPath, 'quota1');
    const small = await execa(
      'dd',
      ['if=/dev/zero', `of=${join(path, 'small')}`, 'bs=1M', 'count=5', 'conv=fsync'],
      { reject: false },
    );
    expect(small.exitCode).toBe(0);
    const big = await execa(
      'dd',
      ['if=/dev/zero', `of=${join(path, 'big')}`, 'bs=1M', 'count=40', 'conv=fsync'],
      { reject: false },
    );
    expect(big.exitCode).not.toBe(0);
    expect(big.stderr).toMatch(/Disk quota exceeded|No space left/);
    const get = await call('/VolumeDriver.Get', { Name: 'quota1' });
    const status = (get.json.Volume as { Status: Record<string, unknown> }).Status;
    expect(status.QuotaBytes).toBe(20 * 1024 * 1024);
    expect(typeof status.UsageBytes).toBe('number');
  });

  it('from makes the new volume a writable copy of a volume or a snapshot', async () => {
    await call('/VolumeDriver.Create', { Name: 'src1' });
    await writeFile(join(fx.volumesPath, 'src1', 'data.txt'), 'first');
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'src1' })).json.Snapshot as string;
    await writeFile(join(fx.volumesPath, 'src1', 'data.txt'), 'second');
    expect(
      (await call('/VolumeDriver.Create', { Name: 'copy1', Opts: { from: 'src1' } })).json,
    ).toEqual({ Err: '' });
    expect(
      (await call('/VolumeDriver.Create', { Name: 'copy2', Opts: { from: snap } })).json,
    ).toEqual({ Err: '' });
    expect(await readFile(join(fx.volumesPath, 'copy1', 'data.txt'), 'utf8')).toBe('second');
    expect(await readFile(join(fx.volumesPath, 'copy2', 'data.txt'), 'utf8')).toBe('first');
    await writeFile(join(fx.volumesPath, 'copy2', 'data.txt'), 'writable');
    expect(await readFile(join(fx.volumesPath, 'src1', 'data.txt'), 'utf8')).toBe('second');
    const missing = await call('/VolumeDriver.Create', {
      Name: 'copy3',
      Opts: { from: 'nosuch1' },
    });
    expect(missing.json.Err).toBe('nosuch1: no such volume');
    await expect(lstat(join(fx.volumesPath, 'copy3'))).rejects.toThrow(/ENOENT/);
  });

  it('clones a volume or a snapshot into a new volume, never onto an existing one', async () => {
    await call('/VolumeDriver.Create', { Name: 'orig1' });
    await writeFile(join(fx.volumesPath, 'orig1', 'f'), 'v1');
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'orig1' })).json.Snapshot as string;
    await writeFile(join(fx.volumesPath, 'orig1', 'f'), 'v2');
    expect((await call('/VolumeDriver.Clone', { Name: 'orig1', Target: 'clone1' })).json).toEqual({
      Err: '',
      VolumeCloned: 'clone1',
    });
    expect((await call('/VolumeDriver.Clone', { Name: snap, Target: 'clone2' })).json).toEqual({
      Err: '',
      VolumeCloned: 'clone2',
    });
    expect(await readFile(join(fx.volumesPath, 'clone1', 'f'), 'utf8')).toBe('v2');
    expect(await readFile(join(fx.volumesPath, 'clone2', 'f'), 'utf8')).toBe('v1');
    const before = await readdir(join(fx.volumesPath, 'clone1'));
    const onto = await call('/VolumeDriver.Clone', { Name: 'orig1', Target: 'clone1' });
    expect(onto.json.Err).toMatch(/^clone1: volume already exists/);
    expect(await readdir(join(fx.volumesPath, 'clone1'))).toEqual(before);
    expect(
      (await call('/VolumeDriver.Clone', { Name: 'nosuch2', Target: 'clone3' })).json.Err,
    ).toBe('nosuch2: no such volume');
    expect((await call('/VolumeDriver.Clone', { Name: 'orig1' })).json.Err).toMatch(
      /Target: required field is missing/,
    );
  });
});
