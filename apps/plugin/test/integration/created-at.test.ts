import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Btrfs } from '@buttervolume/btrfs';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/index.js';
import { CreationTimes } from '../../src/services/creation-times.js';
import { createFixture, type Fixture, inProcess } from './helpers.js';

const btrfs = new Btrfs();

/** What `btrfs subvolume show` says: the reference CreatedAt must agree with. */
async function shown(path: string): Promise<string | undefined> {
  return (await btrfs.show(path)).creationTime?.toISOString();
}

describe('CreatedAt is each volume’s own creation time, also for volumes made from snapshots', () => {
  let fx: Fixture;
  let sourceBorn: number;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'lsattr']);
    fx = await createFixture();
    // Made behind the daemon's back, as a 3.x install leaves them: a volume and, a while
    // later, a writable snapshot of it (whose root folder still has the source's birth time).
    await execa('btrfs', ['subvolume', 'create', '--', join(fx.volumesPath, 'src')]);
    sourceBorn = Date.parse((await shown(join(fx.volumesPath, 'src')))!);
    await sleep(1100);
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '--',
      join(fx.volumesPath, 'src'),
      join(fx.volumesPath, 'byhand'),
    ]);
  });
  afterAll(async () => fx?.cleanup());

  const createdAt = async (call: Awaited<ReturnType<typeof inProcess>>['call'], name: string) => {
    const { json } = await call('/VolumeDriver.Get', { Name: name });
    expect(json.Err).toBe('');
    const volume = json.Volume as { CreatedAt: string; Status: { CreatedAt: string } };
    expect(volume.Status.CreatedAt).toBe(volume.CreatedAt);
    return volume.CreatedAt;
  };

  it('after the warm-up and without it, a snapshot made before the start shows its own time', async () => {
    for (const warm of [true, false]) {
      const { call, services } = await inProcess(fx.config);
      if (warm) expect(await services.status.warm()).toBe(2);
      const byhand = await createdAt(call, 'byhand');
      expect(byhand).toBe(await shown(join(fx.volumesPath, 'byhand')));
      expect(Date.parse(byhand)).toBeGreaterThan(sourceBorn);
      expect(await createdAt(call, 'src')).toBe(new Date(sourceBorn).toISOString());
    }
  });

  it('a clone and a Create with `from` of a volume made earlier show when they were made', async () => {
    const { call, services } = await inProcess(fx.config);
    await services.status.warm();
    const before = Date.now();
    expect((await call('/VolumeDriver.Clone', { Name: 'src', Target: 'cloned' })).json.Err).toBe(
      '',
    );
    const create = { Name: 'derived', Opts: { from: 'src' } };
    expect((await call('/VolumeDriver.Create', create)).json.Err).toBe('');
    for (const name of ['cloned', 'derived']) {
      const value = await createdAt(call, name);
      // otime has whole seconds: the second the clone was made in, or later.
      expect(Date.parse(value)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(value)).toBeLessThanOrEqual(Date.now());
      expect(value).toBe(await shown(join(fx.volumesPath, name)));
    }
    // Removed and made again from scratch: the birth time of the new one, not the clone's time.
    expect((await call('/VolumeDriver.Remove', { Name: 'cloned' })).json.Err).toBe('');
    await sleep(1100);
    expect((await call('/VolumeDriver.Create', { Name: 'cloned' })).json.Err).toBe('');
    const again = await createdAt(call, 'cloned');
    expect(again).toBe(await shown(join(fx.volumesPath, 'cloned')));
    expect(Date.parse(again)).toBeGreaterThan(before);
  });

  it('a snapshot made behind the daemon’s back while it runs is picked up by the next listing', async () => {
    // Relisting allowed at once, instead of every 10 s, so the test need not wait.
    const times = new CreationTimes(fx.volumesPath, btrfs, silentLogger, 0);
    const at = async (name: string) => {
      const path = join(fx.volumesPath, name);
      return (await times.of(path, await stat(path, { bigint: true }))).toISOString();
    };
    expect(await at('src')).toBe(new Date(sourceBorn).toISOString());
    await sleep(1100);
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '--',
      join(fx.volumesPath, 'src'),
      join(fx.volumesPath, 'late'),
    ]);
    await sleep(60); // past the racy window of the folder's mtime
    // The first answer may still be the birth time; it starts a listing in the background.
    await at('late');
    await times.settled();
    const late = await at('late');
    expect(late).toBe(await shown(join(fx.volumesPath, 'late')));
    expect(Date.parse(late)).toBeGreaterThan(sourceBorn + 1000);
  });
});
