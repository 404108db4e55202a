import { chmod, chown, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnDaemon, suffix } from './helpers.js';

// A quota failure after the subvolume exists, for real: a daemon that is not root may create
// (and, with user_subvol_rm_allowed, delete) subvolumes in folders it owns, but only root may
// enable quotas. So Create with a size makes the subvolume, then `btrfs quota enable` fails.
const NOBODY = 65534;

describe('a Create whose quota step fails leaves nothing behind', () => {
  let fs: LoopBtrfs;
  let daemon: DaemonProcess;
  let volumesPath: string;

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fs = await createLoopBtrfs({ mountOptions: ['user_subvol_rm_allowed'] });
    volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.dir, 'run');
    for (const dir of [volumesPath, snapshotsPath, runPath]) {
      await mkdir(dir);
      await chown(dir, NOBODY, NOBODY);
    }
    await chmod(fs.dir, 0o755); // mkdtemp made it 0700: let the daemon reach its folders
    daemon = await spawnDaemon(
      {
        BUTTERVOLUME_VOLUMES_PATH: volumesPath,
        BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
        BUTTERVOLUME_RUNPATH: runPath,
        BUTTERVOLUME_SOCKET: join(runPath, `bv-${suffix()}.sock`),
        BUTTERVOLUME_SCHEDULE: join(runPath, 'schedule.csv'),
        BUTTERVOLUME_CONFIG_FILE: join(fs.dir, 'no-config.ini'),
        BUTTERVOLUME_LOGLEVEL: 'WARNING',
      },
      { uid: NOBODY, gid: NOBODY },
    );
  });

  afterAll(async () => {
    await daemon?.stop();
    await fs?.cleanup();
  });

  const subvolumes = async () =>
    (await execa('btrfs', ['subvolume', 'list', '-o', '--', fs.mountPoint])).stdout.trim();

  it('without a size the same daemon creates volumes (the failure is the quota step)', async () => {
    expect((await daemon.call('/VolumeDriver.Create', { Name: 'plain' })).json).toEqual({
      Err: '',
    });
    expect(await readdir(volumesPath)).toEqual(['plain']);
  });

  it('an empty volume with a size: the subvolume is made, the quota refused, the volume removed', async () => {
    const { json } = await daemon.call('/VolumeDriver.Create', {
      Name: 'sized',
      Opts: { size: '10M' },
    });
    expect(json.Err).toMatch(/quota|permission|not permitted/i);
    expect(await readdir(volumesPath)).toEqual(['plain']);
    expect(await subvolumes()).not.toMatch(/sized/);
    const get = await daemon.call('/VolumeDriver.Get', { Name: 'sized' });
    expect(get.json.Err).toBe('sized: no such volume');
  });

  it('a copy of a volume with a size: the snapshot is made, then removed again', async () => {
    const { json } = await daemon.call('/VolumeDriver.Create', {
      Name: 'copy',
      Opts: { from: 'plain', size: '10M' },
    });
    expect(json.Err).toMatch(/quota|permission|not permitted/i);
    expect(await readdir(volumesPath)).toEqual(['plain']);
    expect(await subvolumes()).not.toMatch(/copy/);
    const list = await daemon.call('/VolumeDriver.List');
    expect(list.json.Volumes).toEqual([{ Name: 'plain', Mountpoint: join(volumesPath, 'plain') }]);
  });
});
