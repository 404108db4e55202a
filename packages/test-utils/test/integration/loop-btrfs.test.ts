import { existsSync } from 'node:fs';
import { open, readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRealEnvironment } from '../../src/environment.js';
import { createLoopBtrfs, type LoopBtrfs, withLoopBtrfs } from '../../src/loop-btrfs.js';

async function mountedAt(mountPoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === mountPoint);
}

async function attached(image: string): Promise<boolean> {
  const { stdout } = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
  return stdout.split('\n').some((line) => line.trim() === image);
}

async function expectGone(fs: LoopBtrfs): Promise<void> {
  expect(await mountedAt(fs.mountPoint)).toBe(false);
  expect(await attached(fs.image)).toBe(false);
  expect(existsSync(fs.dir)).toBe(false);
}

describe('loop btrfs fixture', () => {
  beforeAll(() => requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'mount']));

  it('mounts a writable btrfs and removes everything on cleanup', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 256, label: 'bv-test' });
    try {
      expect(await mountedAt(fs.mountPoint)).toBe(true);
      expect(await attached(fs.image)).toBe(true);
      // stat(1) names the filesystem type itself, independently of our constants.
      expect((await execa('stat', ['-f', '-c', '%T', '--', fs.mountPoint])).stdout).toBe('btrfs');
      await writeFile(join(fs.mountPoint, 'hello'), 'world');
      const { stdout } = await execa('btrfs', ['filesystem', 'label', '--', fs.mountPoint]);
      expect(stdout.trim()).toBe('bv-test');
    } finally {
      await fs.cleanup();
    }
    await expectGone(fs);
    // Idempotent: a second cleanup is a no-op, not an error.
    await fs.cleanup();
  });

  it('cleans up after a throwing callback and rethrows its error', async () => {
    let seen: LoopBtrfs | undefined;
    await expect(
      withLoopBtrfs(async (fs) => {
        seen = fs;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen).toBeDefined();
    await expectGone(seen!);
  });

  it('unmounts even while a file on it is still open', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 128 });
    const handle = await open(join(fs.mountPoint, 'busy'), 'w');
    // Close a little later, as a straggling process would; cleanup must wait or go lazy.
    const closing = new Promise((resolve) => setTimeout(resolve, 300)).then(() => handle.close());
    await fs.cleanup();
    await closing;
    await expectGone(fs);
  });

  it('makes the small sizes disk-full tests need, and rejects impossible ones', async () => {
    await withLoopBtrfs(
      async (fs) => {
        const { blocks, bsize } = await statfs(fs.mountPoint);
        expect(blocks * bsize).toBeLessThanOrEqual(128 * 1024 * 1024);
      },
      { sizeMiB: 128 },
    );
    await expect(createLoopBtrfs({ sizeMiB: 64 })).rejects.toThrow(RangeError);
  });

  it('gives concurrent callers distinct filesystems and devices', async () => {
    const all = await Promise.all(
      Array.from({ length: 4 }, () => createLoopBtrfs({ sizeMiB: 128 })),
    );
    try {
      expect(new Set(all.map((fs) => fs.device)).size).toBe(4);
      expect(new Set(all.map((fs) => fs.mountPoint)).size).toBe(4);
      for (const fs of all) expect(await mountedAt(fs.mountPoint)).toBe(true);
    } finally {
      await Promise.all(all.map((fs) => fs.cleanup()));
    }
    for (const fs of all) await expectGone(fs);
  });
});
