import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createLoopBtrfs, requireRealEnvironment, withLoopBtrfs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { Btrfs, NotASubvolumeError, QuotaDisabledError } from '../../src/index.js';

const btrfs = new Btrfs();
const MiB = 1024 * 1024;

/** Writes `bytes` of random data and fsyncs; resolves with the errno code that stopped it, if any. */
async function fill(path: string, bytes: number): Promise<string | undefined> {
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < bytes; written += MiB) {
      await handle.write(randomBytes(MiB));
    }
    await handle.sync();
    return undefined;
  } catch (error) {
    const { code, errno } = error as NodeJS.ErrnoException;
    // libuv has no name for EDQUOT (122 on Linux): Node reports 'Unknown system error -122'.
    return errno === -122 ? 'EDQUOT' : code;
  } finally {
    await handle.close().catch(() => {});
  }
}

beforeAll(() => requireRealEnvironment(['btrfs', 'mkfs.btrfs']));

describe('quotas', () => {
  it('reports nothing while quotas are off, and refuses limits', async () => {
    await withLoopBtrfs(
      async (fs) => {
        const vol = join(fs.mountPoint, 'vol');
        await btrfs.createSubvolume(vol);
        expect(await btrfs.quota(vol)).toBeUndefined();
        await expect(btrfs.setQuotaLimit(vol, 10 * MiB)).rejects.toBeInstanceOf(QuotaDisabledError);
      },
      { sizeMiB: 128 },
    );
  });

  it('enables idempotently, limits a subvolume, and the kernel enforces the limit', async () => {
    await withLoopBtrfs(
      async (fs) => {
        await btrfs.enableQuota(fs.mountPoint);
        await btrfs.enableQuota(fs.mountPoint);
        const vol = join(fs.mountPoint, 'limited');
        const free = join(fs.mountPoint, 'free');
        await btrfs.createSubvolume(vol);
        await btrfs.createSubvolume(free);
        await btrfs.setQuotaLimit(vol, 10 * 2 ** 20);
        expect((await btrfs.quota(vol))?.limit).toBe(10 * MiB);
        expect((await btrfs.quota(free))?.limit).toBeUndefined();

        const stoppedBy = await fill(join(vol, 'big'), 40 * MiB);
        expect(['EDQUOT', 'ENOSPC']).toContain(stoppedBy);
        expect(await fill(join(free, 'big'), 20 * MiB)).toBeUndefined();

        await btrfs.syncFilesystem(fs.mountPoint);
        const limited = await btrfs.quota(vol);
        const unlimited = await btrfs.quota(free);
        expect(limited?.referenced).toBeLessThanOrEqual(10 * MiB);
        expect(limited?.referenced).toBeGreaterThan(MiB);
        expect(unlimited?.referenced).toBeGreaterThanOrEqual(20 * MiB);
        expect(unlimited?.exclusive).toBeGreaterThanOrEqual(20 * MiB);

        // Raising the limit to none lets the same write through.
        await btrfs.setQuotaLimit(vol, 'none');
        expect((await btrfs.quota(vol))?.limit).toBeUndefined();
        expect(await fill(join(vol, 'big'), 20 * MiB)).toBeUndefined();
      },
      { sizeMiB: 256 },
    );
  });

  it('agrees with btrfs qgroup show for the subvolume id', async () => {
    const fs = await createLoopBtrfs({ sizeMiB: 128 });
    try {
      await btrfs.enableQuota(fs.mountPoint);
      const vol = join(fs.mountPoint, 'vol');
      await btrfs.createSubvolume(vol);
      await btrfs.setQuotaLimit(vol, 5 * MiB);
      const { id } = await btrfs.show(vol);
      const { stdout } = await execa('btrfs', ['qgroup', 'show', '-r', '--raw', fs.mountPoint]);
      const row = stdout.split('\n').find((line) => line.startsWith(`0/${id} `));
      expect(row?.trim().split(/\s+/)[3]).toBe(String(5 * MiB));
    } finally {
      await fs.cleanup();
    }
  });

  it('rejects bad limits and non-subvolumes before running btrfs', async () => {
    await expect(btrfs.setQuotaLimit('/', 0)).rejects.toBeInstanceOf(RangeError);
    await expect(btrfs.setQuotaLimit('/', 1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(btrfs.quota('/proc')).rejects.toBeInstanceOf(NotASubvolumeError);
  });
});
