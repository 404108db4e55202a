import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBtrfs } from '@buttervolume/btrfs';
import { createLoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  describeStep,
  type InitStorageOptions,
  initStorage,
  inspectStorage,
  mountUnitName,
} from '../../src/index.js';

async function isMounted(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === path);
}

async function unmountAll(path: string): Promise<void> {
  while (await isMounted(path)) await execa('umount', ['--', path]);
}

interface Sandbox {
  base: string;
  options: Required<
    Pick<InitStorageOptions, 'volumesPath' | 'snapshotsPath' | 'imagePath' | 'unitDir' | 'size'>
  > &
    InitStorageOptions;
  mountPoint: string;
}

const sandboxes: Sandbox[] = [];

/** Every path a parameter, all under a private temp dir: never /var/lib or /etc of this host. */
async function sandbox(): Promise<Sandbox> {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'bv-storage-')));
  const mountPoint = join(base, 'lib', 'buttervolume');
  const box: Sandbox = {
    base,
    mountPoint,
    options: {
      volumesPath: join(mountPoint, 'volumes'),
      snapshotsPath: join(mountPoint, 'snapshots'),
      imagePath: join(base, 'lib', 'buttervolume.img'),
      unitDir: join(base, 'systemd'),
      size: '200M',
      reloadSystemd: false,
    },
  };
  sandboxes.push(box);
  return box;
}

afterEach(async () => {
  for (const box of sandboxes.splice(0)) {
    await unmountAll(box.mountPoint);
    await rm(box.base, { recursive: true, force: true });
  }
});

describe('initStorage on a host without btrfs', () => {
  beforeAll(() => requireRealEnvironment(['mkfs.btrfs', 'mount', 'umount', 'losetup']));

  it('plans without changing anything in dry-run mode', async () => {
    const { options, mountPoint, base } = await sandbox();
    const result = await initStorage({ ...options, installUnits: true, dryRun: true });
    expect(result.applied).toBe(false);
    expect(result.alreadyBtrfs).toBe(false);
    expect(result.steps.map((step) => step.kind)).toEqual([
      'mkdir', // the mount point
      'mkdir', // the image's folder
      'create-image',
      'mkfs',
      'mount',
      'mkdir',
      'mkdir',
      'write-unit',
      'enable-unit',
    ]);
    expect(result.steps.map(describeStep)).toContain(
      `loop-mount ${options.imagePath} at ${mountPoint}`,
    );
    expect(await readdir(base)).toEqual([]);
  });

  it('creates, formats and mounts a sparse image with a unit, then is idempotent', async () => {
    const { options, mountPoint } = await sandbox();
    const first = await initStorage({ ...options, installUnits: true });
    expect(first.applied).toBe(true);

    expect(await isMounted(mountPoint)).toBe(true);
    for (const path of [options.volumesPath, options.snapshotsPath]) {
      expect(await isBtrfs(path)).toBe(true);
    }
    const image = await stat(options.imagePath);
    expect(image.size).toBe(200 * 2 ** 20);
    expect(image.blocks * 512).toBeLessThan(image.size / 2); // sparse
    const { stdout: label } = await execa('btrfs', ['filesystem', 'label', '--', mountPoint]);
    expect(label.trim()).toBe('buttervolume');

    const unitName = mountUnitName(mountPoint);
    const unitPath = join(options.unitDir, unitName);
    const unit = await readFile(unitPath, 'utf8');
    expect(unit).toContain(`\nWhat=${options.imagePath}\n`);
    expect(unit).toContain(`\nWhere=${mountPoint}\n`);
    const link = join(options.unitDir, 'local-fs.target.wants', unitName);
    expect(await readlink(link)).toBe(`../${unitName}`);
    const { stdout: escaped } = await execa('systemd-escape', ['--path', '--', mountPoint]);
    expect(unitName).toBe(`${escaped.trim()}.mount`);

    const second = await initStorage({ ...options, installUnits: true });
    expect(second.alreadyBtrfs).toBe(true);
    expect(second.steps).toEqual([]);
    expect((await readFile(unitPath, 'utf8')) === unit).toBe(true);
  });

  it('reuses its image after a reboot without units, keeping the data', async () => {
    const { options, mountPoint } = await sandbox();
    await initStorage(options);
    await writeFile(join(options.volumesPath, 'kept'), 'data');
    await unmountAll(mountPoint); // what a reboot does

    const again = await initStorage(options);
    expect(again.steps.map((step) => step.kind)).toEqual(['mount', 'mkdir', 'mkdir']);
    expect(await readFile(join(options.volumesPath, 'kept'), 'utf8')).toBe('data');
    expect(existsSync(join(options.unitDir))).toBe(false);
    expect(again.units[0]?.content).toContain(`Where=${mountPoint}`);
  });

  it('refuses a non-empty mount point and leaves everything as it was', async () => {
    const { options, mountPoint } = await sandbox();
    await mkdir(mountPoint, { recursive: true });
    await writeFile(join(mountPoint, 'precious'), 'user data');

    await expect(initStorage({ ...options, installUnits: true })).rejects.toMatchObject({
      name: 'StorageError',
      code: 'NOT_EMPTY',
      path: mountPoint,
    });
    expect(await readdir(mountPoint)).toEqual(['precious']);
    expect(existsSync(options.imagePath)).toBe(false);
    expect(existsSync(options.unitDir)).toBe(false);
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it('refuses to overwrite a file that is not a btrfs image', async () => {
    const { options } = await sandbox();
    await mkdir(join(options.imagePath, '..'), { recursive: true });
    await writeFile(options.imagePath, 'not an image');
    await expect(initStorage(options)).rejects.toMatchObject({ code: 'IMAGE_EXISTS' });
    expect(await readFile(options.imagePath, 'utf8')).toBe('not an image');
  });

  it('rolls back what it made when a step fails', async () => {
    const { options, mountPoint } = await sandbox();
    // A label longer than btrfs allows (255 bytes) makes mkfs.btrfs fail after the image and
    // the mount point were made: both must go again.
    await expect(initStorage({ ...options, label: 'x'.repeat(300) })).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      command: expect.arrayContaining(['mkfs.btrfs']),
    });
    expect(existsSync(options.imagePath)).toBe(false);
    expect(existsSync(mountPoint)).toBe(false);
    expect(await isMounted(mountPoint)).toBe(false);
  });
});

describe('initStorage where the paths already are on btrfs', () => {
  beforeAll(() => requireRealEnvironment(['mkfs.btrfs', 'mount', 'losetup']));

  it('only creates the missing folders, and nothing on the second run', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 128 });
    try {
      const unitDir = join(fs.dir, 'systemd');
      const options: InitStorageOptions = {
        volumesPath: join(fs.mountPoint, 'bv', 'volumes'),
        snapshotsPath: join(fs.mountPoint, 'bv', 'snapshots'),
        imagePath: join(fs.dir, 'unused.img'),
        unitDir,
        installUnits: true,
        reloadSystemd: false,
      };
      const [volumes] = await inspectStorage([options.volumesPath ?? '']);
      expect(volumes).toMatchObject({ exists: false, isBtrfs: true, empty: false });

      const first = await initStorage(options);
      expect(first.alreadyBtrfs).toBe(true);
      expect(first.steps).toEqual([
        { kind: 'mkdir', path: options.volumesPath },
        { kind: 'mkdir', path: options.snapshotsPath },
      ]);
      const [after] = await inspectStorage([options.volumesPath ?? '']);
      expect(after).toMatchObject({ exists: true, isDirectory: true, isBtrfs: true, empty: true });
      // The admin's own btrfs needs no unit from us.
      expect(existsSync(unitDir)).toBe(false);
      expect(existsSync(join(fs.dir, 'unused.img'))).toBe(false);

      expect((await initStorage(options)).steps).toEqual([]);
    } finally {
      await fs.cleanup();
    }
  });

  it('refuses volumes on btrfs with snapshots elsewhere', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 128 });
    const other = await realpath(await mkdtemp(join(tmpdir(), 'bv-storage-')));
    try {
      await expect(
        initStorage({
          volumesPath: join(fs.mountPoint, 'volumes'),
          snapshotsPath: join(other, 'snapshots'),
          mountPoint: '/',
          imagePath: join(other, 'x.img'),
        }),
      ).rejects.toMatchObject({ code: 'SPLIT_FILESYSTEMS' });
    } finally {
      await fs.cleanup();
      await rm(other, { recursive: true, force: true });
    }
  });
});
