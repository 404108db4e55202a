// Subvolumes inside a volume (Docker-in-Docker with the btrfs storage driver makes them; any
// container can, no capability needed) and a restore journal the daemon cannot finish.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, inProcess, spawnDaemon, suffix } from './helpers.js';

async function subvolume(...args: string[]): Promise<void> {
  await execa('btrfs', ['subvolume', ...args]);
}

describe('nested subvolumes', () => {
  let fx: Fixture;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
  });
  afterAll(async () => fx?.cleanup());

  /** A volume holding inner (with a file), inner/x (read-only) and a/b/deep. */
  async function nestedVolume(call: Awaited<ReturnType<typeof inProcess>>['call']) {
    const volume = `nest-${suffix()}`;
    expect((await call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    const path = join(fx.volumesPath, volume);
    await writeFile(join(path, 'data.txt'), 'before');
    await subvolume('create', '--', join(path, 'inner'));
    await writeFile(join(path, 'inner', 'file'), 'nested data');
    await subvolume('create', '--', join(path, 'inner', 'x'));
    await subvolume('snapshot', '-r', '--', join(path, 'inner'), join(path, 'inner', 'ro'));
    await mkdir(join(path, 'a', 'b'), { recursive: true });
    await subvolume('create', '--', join(path, 'a', 'b', 'deep'));
    return { volume, path };
  }

  it('refuses to restore over a volume holding nested subvolumes, before anything changes, and the daemon restarts fine', async () => {
    const { call } = await inProcess(fx.config);
    const { volume, path } = await nestedVolume(call);
    const snapshot = (await call('/VolumeDriver.Snapshot', { Name: volume })).json.Snapshot;
    await writeFile(join(path, 'data.txt'), 'after');
    const before = await fx.listing();

    const restore = await call('/VolumeDriver.Snapshot.Restore', { Name: snapshot });
    expect(restore.json.Err).toMatch(/nested subvolume/);
    expect(restore.json.Err).toContain('inner');
    expect(restore.json.Err).toContain('a/b/deep');
    // Nothing changed: no backup snapshot, no journal, no staging copy; data in place.
    expect(await fx.listing()).toEqual(before);
    expect(await readFile(join(path, 'data.txt'), 'utf8')).toBe('after');
    expect(await readFile(join(path, 'inner', 'file'), 'utf8')).toBe('nested data');

    // The next start is a normal one (3.x-era bug: the journal made every start throw).
    const again = await inProcess(fx.config);
    expect((await again.call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe('');
    // Restoring into a new volume takes nothing from anyone.
    const target = `${volume}-copy`;
    const copy = await again.call('/VolumeDriver.Snapshot.Restore', {
      Name: snapshot,
      Target: target,
    });
    expect(copy.json.Err).toBe('');
    expect(await readFile(join(fx.volumesPath, target, 'data.txt'), 'utf8')).toBe('before');
  });

  it('says in the snapshot reply and in Status which nested subvolumes a snapshot lacks', async () => {
    const { call } = await inProcess(fx.config);
    const { volume } = await nestedVolume(call);
    const reply = (await call('/VolumeDriver.Snapshot', { Name: volume })).json;
    expect(reply.Err).toBe('');
    expect(reply.NestedSubvolumes).toEqual(['a/b/deep', 'inner', 'inner/ro', 'inner/x']);
    expect(reply.Warning).toMatch(/does not contain.*nested subvolume/);
    const status = (await call('/VolumeDriver.Get', { Name: volume })).json.Volume as {
      Status: Record<string, unknown>;
    };
    expect(status.Status.NestedSubvolumes).toEqual(['a/b/deep', 'inner', 'inner/ro', 'inner/x']);
    // A volume without any says nothing.
    const plain = `plain-${suffix()}`;
    await call('/VolumeDriver.Create', { Name: plain });
    const plainReply = (await call('/VolumeDriver.Snapshot', { Name: plain })).json;
    expect(plainReply).not.toHaveProperty('Warning');
    const plainStatus = (await call('/VolumeDriver.Get', { Name: plain })).json.Volume as {
      Status: Record<string, unknown>;
    };
    expect(plainStatus.Status).not.toHaveProperty('NestedSubvolumes');
  });

  it('removes a volume holding nested subvolumes (read-only ones too), bottom-up', async () => {
    const { call } = await inProcess(fx.config);
    const { volume, path } = await nestedVolume(call);
    await subvolume('create', '--', join(path, 'a', 'b', 'deep', 'deeper'));
    await execa('btrfs', [
      'property',
      'set',
      '-ts',
      '--',
      join(path, 'a', 'b', 'deep'),
      'ro',
      'true',
    ]);
    expect((await call('/VolumeDriver.Remove', { Name: volume })).json.Err).toBe('');
    expect(await readdir(fx.volumesPath)).not.toContain(volume);
    expect((await call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe(
      `${volume}: no such volume`,
    );
  });

  it('finishes a journal an older daemon left with nested subvolumes in the replaced copy', async () => {
    const { call } = await inProcess(fx.config);
    const { volume, path } = await nestedVolume(call);
    // The state 1.x left after the failed delete: restored copy in place, old one aside.
    const id = 'abcdef012345';
    const old = join(fx.volumesPath, `.restore-old-${volume}-${id}`);
    await execa('mv', ['--', path, old]);
    await subvolume('create', '--', path);
    await writeFile(join(path, 'data.txt'), 'restored');
    await writeFile(
      join(fx.volumesPath, `.buttervolume-restore-${volume}.json`),
      JSON.stringify({
        version: 1,
        target: volume,
        snapshot: `${volume}@2026-01-01T00:00:00.000000`,
        backup: null,
        id,
        startedAt: new Date().toISOString(),
      }),
    );
    const daemon = await inProcess(fx.config);
    expect((await daemon.call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe('');
    expect((await readdir(fx.volumesPath)).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await readFile(join(path, 'data.txt'), 'utf8')).toBe('restored');
  });
});

describe('recovery never stops the daemon', () => {
  let fx: Fixture;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('serves everything else and answers a clear error for the one volume it could not recover', async () => {
    const { call } = await inProcess(fx.config);
    for (const name of ['broken', 'stuck', 'fine']) {
      expect((await call('/VolumeDriver.Create', { Name: name })).json.Err).toBe('');
    }
    // A journal that is not one buttervolume wrote, and one whose staging copy is in the way
    // (a plain folder where the restored subvolume should be: it cannot be deleted as one).
    await writeFile(join(fx.volumesPath, '.buttervolume-restore-broken.json'), '{"version": 1');
    const id = '0123456789ab';
    await mkdir(join(fx.volumesPath, `.restore-stuck-${id}`));
    await writeFile(
      join(fx.volumesPath, '.buttervolume-restore-stuck.json'),
      JSON.stringify({ version: 1, target: 'stuck', snapshot: 'stuck@x', backup: null, id }),
    );

    const daemon = await spawnDaemon({
      BUTTERVOLUME_VOLUMES_PATH: fx.config.volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: fx.config.snapshotsPath,
      BUTTERVOLUME_RUNPATH: fx.config.runPath,
      BUTTERVOLUME_SOCKET: fx.config.socket,
      BUTTERVOLUME_CONFIG_FILE: join(fx.fs.dir, 'no-config.ini'),
    });
    try {
      for (const volume of ['broken', 'stuck']) {
        for (const endpoint of ['Get', 'Mount', 'Path', 'Snapshot', 'Remove']) {
          const answer = await daemon.call(`/VolumeDriver.${endpoint}`, { Name: volume, ID: 'c' });
          expect(answer.json.Err).toMatch(new RegExp(`^${volume} needs attention: `));
          expect(answer.json.Err).toMatch(/restart buttervolume/);
        }
        // Docker must always be able to let go of a volume.
        expect(
          (await daemon.call('/VolumeDriver.Unmount', { Name: volume, ID: 'c' })).json.Err,
        ).toBe('');
      }
      expect((await daemon.call('/VolumeDriver.Get', { Name: 'fine' })).json.Err).toBe('');
      expect((await daemon.call('/VolumeDriver.Snapshot', { Name: 'fine' })).json.Err).toBe('');
      const names = ((await daemon.call('/VolumeDriver.List')).json.Volumes as { Name: string }[])
        .map((v) => v.Name)
        .sort();
      expect(names).toEqual(['broken', 'fine', 'stuck']);
      expect(daemon.stderr()).toMatch(/needs attention/);
      // Nothing was deleted: the journals and the folder in the way are still there.
      expect((await readdir(fx.volumesPath)).filter((n) => n.startsWith('.')).sort()).toEqual([
        '.buttervolume-restore-broken.json',
        '.buttervolume-restore-stuck.json',
        `.restore-stuck-${id}`,
      ]);
    } finally {
      await daemon.stop();
    }
  });
});
