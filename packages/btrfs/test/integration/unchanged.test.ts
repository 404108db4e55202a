import { appendFile, chmod, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btrfs, NoSuchPathError } from '../../src/index.js';

const btrfs = new Btrfs();
let fs: LoopBtrfs;
let counter = 0;

/** A volume with a file and a nested folder, and a read-only snapshot of it taken just now. */
async function volumeWithSnapshot(): Promise<{ volume: string; snapshot: string }> {
  const volume = join(fs.mountPoint, `v${++counter}`);
  await btrfs.createSubvolume(volume);
  await writeFile(join(volume, 'data'), 'hello');
  await mkdir(join(volume, 'a', 'b'), { recursive: true });
  await writeFile(join(volume, 'a', 'b', 'deep'), 'deep');
  const snapshot = `${volume}@s`;
  await btrfs.syncFilesystem(volume);
  await btrfs.snapshot(volume, snapshot, { readonly: true });
  return { volume, snapshot };
}

/** The cross-check: find-new's "transid marker" is the volume's generation, read another way. */
async function findNewMarker(volume: string): Promise<number> {
  const { stdout } = await execa('btrfs', ['subvolume', 'find-new', '--', volume, '1000000000']);
  return Number(/transid marker was (\d+)/.exec(stdout)?.[1]);
}

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'mount', 'umount']);
  fs = await createLoopBtrfs({ sizeMiB: 256 });
});
afterAll(async () => {
  await fs?.cleanup();
});

describe('unchangedSince', () => {
  it('says unchanged right after the snapshot, and again on a second look', async () => {
    const { volume, snapshot } = await volumeWithSnapshot();
    const first = await btrfs.unchangedSince(volume, snapshot);
    expect(first).toMatchObject({ unchanged: true, reason: 'unchanged' });
    expect(first.volumeGeneration).toBeLessThanOrEqual(first.snapshotGeneration);
    expect(await findNewMarker(volume)).toBe(first.volumeGeneration);
    expect((await btrfs.unchangedSince(volume, snapshot)).unchanged).toBe(true);
  });

  const changes: [string, (volume: string) => Promise<unknown>][] = [
    ['a 1-byte write', (v) => appendFile(join(v, 'data'), 'x')],
    ['a chmod', (v) => chmod(join(v, 'data'), 0o600)],
    ['a rename', (v) => rename(join(v, 'data'), join(v, 'renamed'))],
    ['a delete', (v) => rm(join(v, 'data'))],
    ['a new empty file', (v) => writeFile(join(v, 'empty'), '')],
    ['a change in a nested folder', (v) => writeFile(join(v, 'a', 'b', 'deep'), 'DEEP')],
    ['a new nested folder', (v) => mkdir(join(v, 'a', 'b', 'c'))],
    [
      // No fsync, no close-time flush: the byte sits in the page cache, in no transaction yet.
      'a write still in the page cache',
      async (v) => {
        const handle = await open(join(v, 'data'), 'r+');
        await handle.write(Buffer.from('Y'), 0, 1, 2);
        await handle.close();
      },
    ],
  ];
  for (const [what, change] of changes) {
    it(`never says unchanged after ${what}`, async () => {
      const { volume, snapshot } = await volumeWithSnapshot();
      // Looked at once before: what is kept of that look must not hide the change.
      expect((await btrfs.unchangedSince(volume, snapshot)).unchanged).toBe(true);
      await change(volume);
      const check = await btrfs.unchangedSince(volume, snapshot);
      expect(check).toMatchObject({ unchanged: false, reason: 'written' });
      expect(check.volumeGeneration).toBeGreaterThan(check.snapshotGeneration);
      expect(await findNewMarker(volume)).toBeGreaterThan(check.snapshotGeneration);
    });
  }

  it('never trusts a snapshot of another subvolume, nor a writable one', async () => {
    const { volume, snapshot } = await volumeWithSnapshot();
    const other = await volumeWithSnapshot();
    expect(await btrfs.unchangedSince(volume, other.snapshot)).toMatchObject({
      unchanged: false,
      reason: 'not-its-snapshot',
    });
    await btrfs.setReadOnly(snapshot, false);
    expect(await btrfs.unchangedSince(volume, snapshot)).toMatchObject({
      unchanged: false,
      reason: 'writable-snapshot',
    });
  });

  it('says changed for a volume replaced by a restore of its own older snapshot', async () => {
    const { volume, snapshot } = await volumeWithSnapshot();
    const newest = `${volume}@newest`;
    await btrfs.snapshot(volume, newest, { readonly: true });
    expect((await btrfs.unchangedSince(volume, newest)).unchanged).toBe(true);
    await btrfs.deleteSubvolume(volume);
    await btrfs.snapshot(snapshot, volume, { readonly: false });
    expect(await btrfs.unchangedSince(volume, newest)).toMatchObject({
      unchanged: false,
      reason: 'not-its-snapshot',
    });
    // The restored volume's own snapshot is recognised, whatever was kept of the old volume.
    const after = `${volume}@after`;
    await btrfs.syncFilesystem(volume);
    await btrfs.snapshot(volume, after, { readonly: true });
    expect(await btrfs.unchangedSince(volume, after)).toMatchObject({ unchanged: true });
  });

  it('fails with a typed error for a missing volume or snapshot', async () => {
    const { volume, snapshot } = await volumeWithSnapshot();
    await expect(btrfs.unchangedSince(join(fs.mountPoint, 'nope'), snapshot)).rejects.toThrow(
      NoSuchPathError,
    );
    await expect(btrfs.unchangedSince(volume, `${snapshot}-gone`)).rejects.toThrow(NoSuchPathError);
  });
});
