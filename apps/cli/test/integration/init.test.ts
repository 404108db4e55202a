import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './daemon.js';

beforeAll(() => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'truncate']);
});

function init(
  args: readonly string[],
  root: string,
  paths = { volumes: 'bv/volumes', snapshots: 'bv/snapshots' },
) {
  return execa('node', [BIN, 'init', ...args], {
    reject: false,
    env: {
      BUTTERVOLUME_CONFIG_FILE: join(root, 'absent.ini'),
      BUTTERVOLUME_VOLUMES_PATH: join(root, paths.volumes),
      BUTTERVOLUME_SNAPSHOTS_PATH: join(root, paths.snapshots),
    },
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bv-init-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('buttervolume init', () => {
  it('--dry-run lists the steps and changes nothing', async () => {
    await withTempDir(async (dir) => {
      const result = await init(
        ['--dry-run', '--no-units', '--image', join(dir, 'bv.img'), '--size', '200M'],
        dir,
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain('Would do (dry run, nothing changed):');
      expect(result.stdout).toContain(`create sparse image ${join(dir, 'bv.img')} (200M)`);
      expect(result.stdout).toContain('[Mount]');
      expect(await readdir(dir)).toEqual([]);
    });
  });

  it('a size too small for btrfs is a usage error (exit 2)', async () => {
    await withTempDir(async (dir) => {
      const result = await init(
        ['--dry-run', '--image', join(dir, 'bv.img'), '--size', '10M'],
        dir,
      );
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/^Error: size 10M is too small/);
    });
  });

  it('refuses to mount over a folder that holds data (exit 1)', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'bv'));
      await writeFile(join(dir, 'bv', 'precious.txt'), 'keep me');
      const result = await init(
        ['--no-units', '--image', join(dir, 'bv.img'), '--size', '200M'],
        dir,
      );
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/^Error: /);
      expect((await readdir(dir)).sort()).toEqual(['bv']);
      expect(await readdir(join(dir, 'bv'))).toEqual(['precious.txt']);
    });
  });

  it('does nothing when the folders already are on btrfs', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 128 });
    try {
      await mkdir(join(fs.mountPoint, 'volumes'));
      await mkdir(join(fs.mountPoint, 'snapshots'));
      const result = await init(['--no-units'], fs.mountPoint, {
        volumes: 'volumes',
        snapshots: 'snapshots',
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain('are on btrfs: nothing to do.');
    } finally {
      await fs.cleanup();
    }
  });

  it('creates, formats and mounts an image, then a second run has nothing to do', async () => {
    await withTempDir(async (dir) => {
      const image = join(dir, 'bv.img');
      const mountPoint = join(dir, 'bv');
      try {
        const result = await init(['--no-units', '--image', image, '--size', '200M'], dir);
        expect(result.exitCode, result.stderr).toBe(0);
        expect(result.stdout).toContain('Done:');
        const fstype = await execa('findmnt', [
          '-n',
          '-o',
          'FSTYPE',
          '--target',
          join(mountPoint, 'volumes'),
        ]);
        expect(fstype.stdout.trim()).toBe('btrfs');
        const again = await init(['--no-units', '--image', image, '--size', '200M'], dir);
        expect(again.stdout).toContain('nothing to do');
      } finally {
        await execa('umount', ['--', mountPoint], { reject: false });
        const attached = await execa('losetup', ['-j', image, '-O', 'NAME', '-n'], {
          reject: false,
        });
        for (const device of attached.stdout.split('\n').filter(Boolean)) {
          await execa('losetup', ['-d', device.trim()], { reject: false });
        }
      }
    });
  });
});
