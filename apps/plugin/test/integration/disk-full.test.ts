// The fault suite's full disk: one tiny btrfs holds the volumes, the snapshots, RUNPATH
// (mounts.json) and schedule.csv (in the default layout those two live elsewhere; here they
// share the full filesystem so that their writes fail too). It is filled to the last byte with
// a ballast file, and a real daemon process is asked for every operation that writes. Each one
// must answer a clear error, leave nothing half-done and lose nothing; the daemon keeps serving;
// once the ballast is gone, the same operation succeeds.
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnDaemon, suffix } from './helpers.js';

const MiB = 1024 * 1024;

describe('a full disk: every write fails cleanly, the daemon serves on, and works once space is back', () => {
  let fs: LoopBtrfs;
  let daemon: DaemonProcess;
  let volumesPath: string;
  let snapshotsPath: string;
  let schedulePath: string;
  let mountsPath: string;
  let snapshot: string;
  const ballast = () => join(fs.mountPoint, 'ballast');

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    // Mixed block groups: data and metadata share the pool, so a full disk also refuses new
    // subvolumes and snapshots (with separate pools those only need metadata room).
    fs = await createLoopBtrfs({ sizeMiB: 120, mkfsOptions: ['--mixed'] });
    volumesPath = join(fs.mountPoint, 'volumes');
    snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.mountPoint, 'run');
    schedulePath = join(fs.mountPoint, 'etc', 'schedule.csv');
    mountsPath = join(runPath, 'buttervolume', 'mounts.json');
    for (const dir of [volumesPath, snapshotsPath, runPath]) await execa('mkdir', ['-p', dir]);
    daemon = await spawnDaemon({
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_SOCKET: join(runPath, `bv-full-${suffix()}.sock`),
      BUTTERVOLUME_SCHEDULE: schedulePath,
      BUTTERVOLUME_CONFIG_FILE: join(fs.dir, 'no-config.ini'),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
    });
    // What must survive: a volume with data, a snapshot of it, a scheduled job, a mount.
    expect((await daemon.call('/VolumeDriver.Create', { Name: 'db' })).json.Err).toBe('');
    await writeFile(join(volumesPath, 'db', 'data'), 'snapshotted');
    snapshot = (await daemon.call('/VolumeDriver.Snapshot', { Name: 'db' })).json
      .Snapshot as string;
    await writeFile(join(volumesPath, 'db', 'data'), 'current');
    const schedule = { Name: 'db', Action: 'snapshot', Timer: '60' };
    expect((await daemon.call('/VolumeDriver.Schedule', schedule)).json.Err).toBe('');
    expect((await daemon.call('/VolumeDriver.Mount', { Name: 'db', ID: 'c1' })).json.Err).toBe('');
  });

  afterAll(async () => {
    await daemon?.stop();
    await fs?.cleanup();
  });

  /** Everything the daemon keeps on disk, to compare before and after a refused operation. */
  async function state() {
    return {
      volumes: (await readdir(volumesPath)).sort(),
      snapshots: (await readdir(snapshotsPath)).sort(),
      data: await readFile(join(volumesPath, 'db', 'data'), 'utf8'),
      schedule: await readFile(schedulePath, 'utf8'),
      scheduleFolder: (await readdir(join(fs.mountPoint, 'etc'))).sort(),
      mounts: await readFile(mountsPath, 'utf8'),
      mountsFolder: (await readdir(join(fs.mountPoint, 'run', 'buttervolume'))).sort(),
    };
  }

  /** Fills the filesystem: the ballast grows until btrfs refuses even a byte more. */
  async function fill(): Promise<void> {
    const handle = await open(ballast(), 'a');
    try {
      const chunk = Buffer.alloc(MiB, 0xa5);
      for (let round = 0; round < 3; round++) {
        // A commit can hand back reserved space: write again after each sync until none is left.
        for (let size = MiB; size >= 4096; ) {
          try {
            await handle.write(chunk.subarray(0, size));
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
            size /= 2;
          }
        }
        await execa('btrfs', ['filesystem', 'sync', '--', fs.mountPoint]);
      }
    } finally {
      await handle.close().catch((error: unknown) => {
        // Closing flushes nothing more (every write above returned): ENOSPC here is expected.
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      });
    }
    // Proof that the disk is full for everyone: a new empty subvolume does not fit.
    const probe = await execa(
      'btrfs',
      ['subvolume', 'create', '--', join(fs.mountPoint, `probe-${suffix()}`)],
      { reject: false },
    );
    expect(probe.stderr).toMatch(/No space left/);
  }

  async function free(): Promise<void> {
    await rm(ballast(), { force: true });
    await execa('btrfs', ['filesystem', 'sync', '--', fs.mountPoint]);
  }

  /** The daemon still answers Docker's calls and lists what it had. */
  async function stillServing(): Promise<void> {
    const get = await daemon.call('/VolumeDriver.Get', { Name: 'db' });
    expect(get.json.Err).toBe('');
    const names = (await daemon.call('/VolumeDriver.List')).json.Volumes as { Name: string }[];
    expect(names.map((v) => v.Name)).toContain('db');
  }

  describe('while the filesystem is full', () => {
    let before: Awaited<ReturnType<typeof state>>;
    beforeAll(async () => {
      await fill();
      before = await state();
    });
    afterAll(async () => {
      await free();
    });

    it('Create: a clear error, no subvolume made', async () => {
      const { json } = await daemon.call('/VolumeDriver.Create', { Name: 'fresh' });
      expect(json.Err).toMatch(/no space left.*free space/i);
      expect(await state()).toEqual(before);
      await stillServing();
    });

    it('Create from a snapshot (a copy): a clear error, no subvolume made', async () => {
      const { json } = await daemon.call('/VolumeDriver.Create', {
        Name: 'copy',
        Opts: { from: snapshot },
      });
      expect(json.Err).toMatch(/no space left/i);
      expect(await state()).toEqual(before);
      await stillServing();
    });

    it('Snapshot: a clear error, no snapshot made', async () => {
      const { json } = await daemon.call('/VolumeDriver.Snapshot', { Name: 'db' });
      expect(json.Err).toMatch(/no space left/i);
      expect(await state()).toEqual(before);
      await stillServing();
    });

    it('Restore: a clear error, the volume keeps its data, no backup, journal or staging left', async () => {
      const { json } = await daemon.call('/VolumeDriver.Snapshot.Restore', {
        Name: snapshot,
        Force: true,
      });
      expect(json.Err).toMatch(/no space left/i);
      expect(await state()).toEqual(before);
      await stillServing();
    });

    it('Clone: a clear error, no target made', async () => {
      const { json } = await daemon.call('/VolumeDriver.Clone', { Name: 'db', Target: 'twin' });
      expect(json.Err).toMatch(/no space left/i);
      expect(await state()).toEqual(before);
      await stillServing();
    });

    it('a schedule.csv write: a clear error, the file byte for byte as it was, no temp file', async () => {
      const { json } = await daemon.call('/VolumeDriver.Schedule', {
        Name: 'db',
        Action: 'purge:1h:1d',
        Timer: '60',
      });
      expect(json.Err).toMatch(/schedule\.csv.*free space/i);
      expect(await state()).toEqual(before);
      const listed = (await daemon.call('/VolumeDriver.Schedule.List', undefined, 'GET')).json;
      expect(listed.Schedule).toEqual([
        expect.objectContaining({ Name: 'db', Action: 'snapshot', Timer: '60' }),
      ]);
    });

    it('a mounts.json write (Mount): a clear error naming RUNPATH, the ID not kept', async () => {
      const { json } = await daemon.call('/VolumeDriver.Mount', { Name: 'db', ID: 'c2' });
      expect(json.Err).toMatch(/could not record the mount of db in .*mounts\.json.*RUNPATH/);
      expect(await state()).toEqual(before);
      // c1 is mounted nowhere in the kernel (no container here): Remove would drop it as stale
      // and delete the volume, but cannot save that; it says so and keeps both.
      const remove = await daemon.call('/VolumeDriver.Remove', { Name: 'db' });
      expect(remove.json.Err).toMatch(/could not forget the mount of db in .*RUNPATH/);
      expect(await state()).toEqual(before);
      await stillServing();
    });
  });

  describe('once space is back, the same operations succeed', () => {
    it('Create, Create from a snapshot, Snapshot, Clone', async () => {
      expect((await daemon.call('/VolumeDriver.Create', { Name: 'fresh' })).json.Err).toBe('');
      const copy = { Name: 'copy', Opts: { from: snapshot } };
      expect((await daemon.call('/VolumeDriver.Create', copy)).json.Err).toBe('');
      expect(await readFile(join(volumesPath, 'copy', 'data'), 'utf8')).toBe('snapshotted');
      expect((await daemon.call('/VolumeDriver.Snapshot', { Name: 'db' })).json.Err).toBe('');
      const clone = { Name: 'db', Target: 'twin' };
      expect((await daemon.call('/VolumeDriver.Clone', clone)).json.Err).toBe('');
      expect(await readFile(join(volumesPath, 'twin', 'data'), 'utf8')).toBe('current');
    });

    it('Restore brings the snapshot back and keeps a backup of what was there', async () => {
      const { json } = await daemon.call('/VolumeDriver.Snapshot.Restore', {
        Name: snapshot,
        Force: true,
      });
      expect(json.Err).toBe('');
      expect(await readFile(join(volumesPath, 'db', 'data'), 'utf8')).toBe('snapshotted');
      const backup = json.VolumeBackup as string;
      expect(await readFile(join(snapshotsPath, backup, 'data'), 'utf8')).toBe('current');
      expect((await readdir(volumesPath)).filter((n) => n.startsWith('.'))).toEqual([]);
    });

    it('a restore whose journal cannot be written changes nothing and takes its backup away', async () => {
      // A folder where the journal goes: the journal's rename fails after the backup was made
      // (on a nearly full disk, the snapshot can fit where the journal no longer does).
      const journal = join(volumesPath, '.buttervolume-restore-db.json');
      await execa('mkdir', ['--', journal]);
      try {
        const before = await readdir(snapshotsPath);
        await writeFile(join(volumesPath, 'db', 'data'), 'kept');
        const { json } = await daemon.call('/VolumeDriver.Snapshot.Restore', {
          Name: snapshot,
          Force: true,
        });
        expect(json.Err).toMatch(
          /db was not restored: the restore journal .* could not be written .*free space/,
        );
        expect(await readdir(snapshotsPath)).toEqual(before);
        expect(await readFile(join(volumesPath, 'db', 'data'), 'utf8')).toBe('kept');
      } finally {
        await rm(journal, { recursive: true });
      }
      await stillServing();
    });

    it('schedule.csv and mounts.json take the writes that were refused', async () => {
      const purge = { Name: 'db', Action: 'purge:1h:1d', Timer: '60' };
      expect((await daemon.call('/VolumeDriver.Schedule', purge)).json.Err).toBe('');
      expect(await readFile(schedulePath, 'utf8')).toBe(
        'db,snapshot,60,True\r\ndb,purge:1h:1d,60,True\r\n',
      );
      expect((await daemon.call('/VolumeDriver.Mount', { Name: 'db', ID: 'c2' })).json.Err).toBe(
        '',
      );
      expect(JSON.parse(await readFile(mountsPath, 'utf8')).mounts.db.sort()).toEqual(['c1', 'c2']);
    });
  });
});
