import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Btrfs } from '@buttervolume/btrfs';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, startDaemon } from '../../src/index.js';
import { createFixture, type Fixture, inProcess, overSocket } from './helpers.js';

const btrfs = new Btrfs();

describe('Get’s status cache: warmed in the background, dropped when a volume changes', () => {
  let fx: Fixture;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'lsattr', 'chattr']);
    fx = await createFixture();
    // Made behind the daemon's back, as volumes of a 3.x install are before our first start.
    for (let i = 0; i < 12; i++) {
      const path = join(fx.volumesPath, `w${i}`);
      await execa('btrfs', ['subvolume', 'create', '--', path]);
      if (i % 3 === 0) await execa('chattr', ['+C', '--', path]);
    }
  });
  afterAll(async () => fx?.cleanup());

  it('a daemon warms every volume after it starts, and Get answers the same facts', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'DEBUG', write: (line) => lines.push(line) });
    const daemon = await startDaemon(fx.config, { logger });
    try {
      for (let i = 0; i < 200 && !lines.some((l) => l.includes('status cache warmed')); i++) {
        await sleep(25);
      }
      const warmed = lines.find((l) => l.includes('status cache warmed'));
      expect(JSON.parse(warmed ?? '{}')).toMatchObject({ volumes: 12 });
      // Nothing left to do: every volume's facts are cached.
      expect(await daemon.services.status.warm()).toBe(0);
      const call = overSocket(daemon.socketPath);
      for (let i = 0; i < 12; i++) {
        const path = join(fx.volumesPath, `w${i}`);
        const { json } = await call('/VolumeDriver.Get', { Name: `w${i}` });
        const volume = json.Volume as { CreatedAt: string; Status: { CopyOnWrite: boolean } };
        expect(volume.Status.CopyOnWrite).toBe(i % 3 !== 0);
        expect(volume.CreatedAt).toBe((await btrfs.show(path)).creationTime?.toISOString());
      }
    } finally {
      await daemon.close();
    }
  });

  it('a volume removed and created again is looked at afresh', async () => {
    const { call, services } = await inProcess(fx.config);
    await services.status.warm();
    const before = (await call('/VolumeDriver.Get', { Name: 'w1' })).json.Volume as {
      Status: { CopyOnWrite: boolean };
    };
    expect(before.Status.CopyOnWrite).toBe(true);
    expect((await call('/VolumeDriver.Remove', { Name: 'w1' })).json.Err).toBe('');
    const create = { Name: 'w1', Opts: { copyonwrite: 'false' } };
    expect((await call('/VolumeDriver.Create', create)).json.Err).toBe('');
    const after = (await call('/VolumeDriver.Get', { Name: 'w1' })).json.Volume as {
      Status: { CopyOnWrite: boolean };
    };
    expect(after.Status.CopyOnWrite).toBe(false);
    expect(await services.status.warm()).toBe(0);
  });

  it('a restored volume reports the restored subvolume’s creation time', async () => {
    const { call, services } = await inProcess(fx.config);
    await services.status.warm();
    const get = async () =>
      ((await call('/VolumeDriver.Get', { Name: 'w2' })).json.Volume as { CreatedAt: string })
        .CreatedAt;
    const before = await get();
    const snapshot = (await call('/VolumeDriver.Snapshot', { Name: 'w2' })).json.Snapshot;
    await sleep(1100); // btrfs shows creation times to the second
    const restore = await call('/VolumeDriver.Snapshot.Restore', { Name: snapshot });
    expect(restore.json.Err).toBe('');
    const after = await get();
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
    expect(after).toBe((await btrfs.show(join(fx.volumesPath, 'w2'))).creationTime?.toISOString());
  });

  it('Get answers the quota numbers it knows while `btrfs qgroup show` is held up, and asks again in the background', async () => {
    // qgroup show waits in the kernel behind a purge's deletes (100 to 400 ms): Get waited too.
    let held: Promise<void> | undefined;
    let asks = 0;
    let asked: Promise<unknown> = Promise.resolve();
    class HeldQuota extends Btrfs {
      override quota(path: string) {
        asks++;
        const answer = (async () => {
          await held;
          return super.quota(path);
        })();
        asked = answer.catch(() => {});
        return answer;
      }
    }
    const { call } = await inProcess(fx.config, { btrfs: new HeldQuota() });
    const create = { Name: 'quota-held', Opts: { size: '20M' } };
    expect((await call('/VolumeDriver.Create', create)).json.Err).toBe('');
    const status = async () =>
      (
        (await call('/VolumeDriver.Get', { Name: 'quota-held' })).json.Volume as {
          Status: { QuotaBytes?: number };
        }
      ).Status;
    // A volume's first ask waits for btrfs.
    expect((await status()).QuotaBytes).toBe(20 * 1024 * 1024);
    expect(asks).toBe(1);
    await sleep(2100); // past the 2 s a volume's numbers are kept
    let release = () => {};
    held = new Promise((resolve) => {
      release = resolve;
    });
    try {
      const answered = await Promise.race([status(), sleep(10_000).then(() => 'no answer')]);
      expect(answered).toMatchObject({ QuotaBytes: 20 * 1024 * 1024 });
      expect(asks).toBe(2);
    } finally {
      release();
      await asked; // nothing of ours left running on the filesystem
    }
  });

  it('Get starts no lsattr or property get for a volume Create made, nor waits for one when a write moved its root’s ctime', async () => {
    let reads = 0;
    let held: Promise<void> | undefined;
    class CountedFlags extends Btrfs {
      override async isNocow(path: string) {
        reads++;
        await held;
        return super.isNocow(path);
      }
      override async compression(path: string) {
        reads++;
        await held;
        return super.compression(path);
      }
    }
    const { call } = await inProcess(fx.config, { btrfs: new CountedFlags() });
    const create = { Name: 'flags-known', Opts: { compression: 'zstd' } };
    expect((await call('/VolumeDriver.Create', create)).json.Err).toBe('');
    const status = async () =>
      (
        (await call('/VolumeDriver.Get', { Name: 'flags-known' })).json.Volume as {
          Status: { CopyOnWrite: boolean; Compression?: string };
        }
      ).Status;
    expect(await status()).toMatchObject({ CopyOnWrite: true, Compression: 'zstd' });
    expect(reads).toBe(0);
    // A container makes a file in the volume's root: its ctime moves, as chattr's would.
    await sleep(10);
    await writeFile(join(fx.volumesPath, 'flags-known', 'new-file'), '');
    let release = () => {};
    held = new Promise((resolve) => {
      release = resolve;
    });
    try {
      const answered = await Promise.race([status(), sleep(10_000).then(() => 'no answer')]);
      expect(answered).toMatchObject({ CopyOnWrite: true, Compression: 'zstd' });
      expect(reads).toBe(2); // looked at again, in the background
    } finally {
      release();
    }
    await sleep(100);
    expect(await status()).toMatchObject({ CopyOnWrite: true, Compression: 'zstd' });
  });
});
