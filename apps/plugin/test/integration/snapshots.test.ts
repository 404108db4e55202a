import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Btrfs } from '@buttervolume/btrfs';
import { VolumeName } from '@buttervolume/names';
import { formatTimestamp } from '@buttervolume/retention';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Caller,
  createFixture,
  type Fixture,
  inProcess,
  mountInOtherNamespace,
} from './helpers.js';

const HOUR = 3_600_000;
const SNAPSHOT_RE = /^[a-z0-9]+@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

describe('snapshot endpoints (in process, real btrfs)', () => {
  let fx: Fixture;
  let call: Caller;
  let daemon: Awaited<ReturnType<typeof inProcess>>;
  const btrfs = new Btrfs();
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
    daemon = await inProcess(fx.config);
    ({ call } = daemon);
  });
  afterAll(async () => fx?.cleanup());

  const snapshotsOf = async (volume: string) =>
    (await call(`/VolumeDriver.Snapshot.List/${volume}`, undefined, 'GET')).json
      .Snapshots as string[];

  it('takes read-only snapshots with unique <volume>@<timestamp> names, even in a burst', async () => {
    await call('/VolumeDriver.Create', { Name: 'snap1' });
    await writeFile(join(fx.volumesPath, 'snap1', 'f'), 'data');
    const names = await Promise.all(
      Array.from(
        { length: 5 },
        async () => (await call('/VolumeDriver.Snapshot', { Name: 'snap1' })).json,
      ),
    );
    const snaps = names.map((r) => r.Snapshot as string);
    for (const r of names) expect(r.Err).toBe('');
    for (const s of snaps) expect(s).toMatch(SNAPSHOT_RE);
    expect(new Set(snaps).size).toBe(5);
    expect(await btrfs.isReadOnly(join(fx.snapshotsPath, snaps[0]!))).toBe(true);
    expect(await readFile(join(fx.snapshotsPath, snaps[0]!, 'f'), 'utf8')).toBe('data');
    expect((await call('/VolumeDriver.Snapshot', { Name: 'nosnap' })).json.Err).toBe(
      'nosnap: no such volume',
    );
  });

  it('the newest complete snapshot skips what an interrupted receive left under a newer name', async () => {
    await call('/VolumeDriver.Create', { Name: 'recv1' });
    const done = (await call('/VolumeDriver.Snapshot', { Name: 'recv1' })).json.Snapshot as string;
    // btrfs receive makes its target read-only only once the whole stream is in.
    const partial = `recv1@${formatTimestamp(new Date(Date.now() + HOUR))}`;
    await btrfs.createSubvolume(join(fx.snapshotsPath, partial));
    const { snapshots } = daemon.services;
    snapshots.invalidate();
    expect(await snapshots.latest('recv1' as never)).toBe(partial);
    expect(await snapshots.latest('recv1' as never, { complete: true })).toBe(done);
    await btrfs.deleteSubvolume(join(fx.snapshotsPath, partial));
  });

  it('lists every entry of the snapshots folder, markers included, and per volume', async () => {
    await call('/VolumeDriver.Create', { Name: 'other1' });
    const other = (await call('/VolumeDriver.Snapshot', { Name: 'other1' })).json
      .Snapshot as string;
    const snap = (await snapshotsOf('snap1'))[0]!;
    const marker = `${snap}@backuphost`;
    await btrfs.snapshot(join(fx.snapshotsPath, snap), join(fx.snapshotsPath, marker), {
      readonly: true,
    });
    const all = (await call('/VolumeDriver.Snapshot.List', undefined, 'GET')).json;
    expect(all.Err).toBe('');
    expect(all.Snapshots).toEqual((await readdir(fx.snapshotsPath)).sort());
    expect(all.Snapshots).toContain(marker);
    expect(all.Snapshots).toContain(other);
    const mine = await snapshotsOf('snap1');
    expect(mine).toContain(marker);
    expect(mine).not.toContain(other);
    expect(mine.every((n) => n.startsWith('snap1@'))).toBe(true);
    expect(await snapshotsOf('nosuchvol')).toEqual([]);
  });

  it('removes a snapshot (and a marker); a missing one is "No such snapshot"', async () => {
    const [first] = await snapshotsOf('snap1');
    const marker = (await snapshotsOf('snap1')).find((n) => n.endsWith('@backuphost'))!;
    expect((await call('/VolumeDriver.Snapshot.Remove', { Name: marker })).json).toEqual({
      Err: '',
    });
    const victim = (await snapshotsOf('snap1')).at(-1)!;
    expect(victim).not.toBe(first);
    expect((await call('/VolumeDriver.Snapshot.Remove', { Name: victim })).json).toEqual({
      Err: '',
    });
    await expect(lstat(join(fx.snapshotsPath, victim))).rejects.toThrow(/ENOENT/);
    const again = await call('/VolumeDriver.Snapshot.Remove', { Name: victim });
    expect(again.json.Err).toMatch(/^No such snapshot/);
  });

  it('restores a snapshot: backs the current data up, then puts the snapshot’s data in place', async () => {
    await call('/VolumeDriver.Create', { Name: 'rest1' });
    const file = join(fx.volumesPath, 'rest1', 'f');
    await writeFile(file, 'old');
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'rest1' })).json.Snapshot as string;
    await writeFile(file, 'new');
    const res = await call('/VolumeDriver.Snapshot.Restore', { Name: snap });
    expect(res.json).toEqual({
      Err: '',
      VolumeBackup: expect.stringMatching(/^rest1@/),
      Restored: snap,
    });
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(
      await readFile(join(fx.snapshotsPath, res.json.VolumeBackup as string, 'f'), 'utf8'),
    ).toBe('new');
    // the restored volume is writable again
    await writeFile(file, 'after');
    const leftovers = (await readdir(fx.volumesPath)).filter((n) => n.startsWith('.'));
    expect(leftovers).toEqual([]);
  });

  it('restores a volume name from its newest snapshot by creation time, not a name dated in the future', async () => {
    await call('/VolumeDriver.Create', { Name: 'jump1' });
    const file = join(fx.volumesPath, 'jump1', 'f');
    await writeFile(file, 'taken while the clock was 70 years ahead');
    // What a clock that jumped forward leaves: an older snapshot with a later name.
    const future = 'jump1@2099-01-01T00:00:00.000000';
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '-r',
      '--',
      join(fx.volumesPath, 'jump1'),
      join(fx.snapshotsPath, future),
    ]);
    // btrfs keeps creation times to the second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await writeFile(file, 'newest');
    const newest = (await call('/VolumeDriver.Snapshot', { Name: 'jump1' })).json.Snapshot;
    await writeFile(file, 'current');
    const res = await call('/VolumeDriver.Snapshot.Restore', { Name: 'jump1' });
    expect(res.json.Restored).toBe(newest);
    expect(await readFile(file, 'utf8')).toBe('newest');
  });

  it('restores a volume name from its latest snapshot, and onto another Target', async () => {
    await call('/VolumeDriver.Create', { Name: 'rest2' });
    const file = join(fx.volumesPath, 'rest2', 'f');
    await writeFile(file, 'one');
    await call('/VolumeDriver.Snapshot', { Name: 'rest2' });
    await writeFile(file, 'two');
    const latest = (await call('/VolumeDriver.Snapshot', { Name: 'rest2' })).json.Snapshot;
    await writeFile(file, 'three');
    const res = await call('/VolumeDriver.Snapshot.Restore', { Name: 'rest2' });
    expect(res.json.Restored).toBe(latest);
    expect(await readFile(file, 'utf8')).toBe('two');

    const onto = await call('/VolumeDriver.Snapshot.Restore', {
      Name: latest,
      Target: 'rest2copy',
    });
    expect(onto.json).toEqual({ Err: '', Restored: latest });
    expect(await readFile(join(fx.volumesPath, 'rest2copy', 'f'), 'utf8')).toBe('two');

    await call('/VolumeDriver.Create', { Name: 'nosnaps' });
    expect((await call('/VolumeDriver.Snapshot.Restore', { Name: 'nosnaps' })).json.Err).toMatch(
      /^No such snapshot: nosnaps/,
    );
    expect(
      (await call('/VolumeDriver.Snapshot.Restore', { Name: 'rest2@2001-01-01T00:00:00.000000' }))
        .json.Err,
    ).toMatch(/^No such snapshot/);
  });

  it('refuses to restore a volume a container uses though no mount ID says so (3.x containers, lost mounts.json)', async () => {
    await call('/VolumeDriver.Create', { Name: 'rest4' });
    const path = join(fx.volumesPath, 'rest4');
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'rest4' })).json.Snapshot as string;
    const elsewhere = await mountInOtherNamespace(path);
    try {
      const before = await fx.listing();
      const refused = await call('/VolumeDriver.Snapshot.Restore', { Name: snap });
      expect(refused.json.Err).toBe(
        `rest4 is mounted in 1 place(s) (${elsewhere.mountPoint} as seen by pid ${elsewhere.pid}); stop them first or pass Force`,
      );
      expect(await fx.listing()).toEqual(before);
    } finally {
      await elsewhere.release();
    }
    expect((await call('/VolumeDriver.Snapshot.Restore', { Name: snap })).json.Err).toBe('');
  });

  it('refuses to restore onto a mounted volume unless forced', async () => {
    await call('/VolumeDriver.Create', { Name: 'rest3' });
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'rest3' })).json.Snapshot as string;
    await call('/VolumeDriver.Mount', { Name: 'rest3', ID: 'ctr9' });
    const before = await fx.listing();
    const refused = await call('/VolumeDriver.Snapshot.Restore', { Name: snap });
    expect(refused.json.Err).toBe(
      'rest3 is mounted by 1 container(s) (ctr9); stop them first or pass Force',
    );
    expect(await fx.listing()).toEqual(before);
    expect(
      (await call('/VolumeDriver.Snapshot.Restore', { Name: snap, Force: true })).json.Err,
    ).toBe('');
  });

  it('serialises snapshot, restore, purge and remove of one volume', async () => {
    await call('/VolumeDriver.Create', { Name: 'conc1' });
    await writeFile(join(fx.volumesPath, 'conc1', 'f'), 'base');
    const base = (await call('/VolumeDriver.Snapshot', { Name: 'conc1' })).json.Snapshot as string;
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => call('/VolumeDriver.Snapshot', { Name: 'conc1' })),
      call('/VolumeDriver.Snapshot.Restore', { Name: base }),
      call('/VolumeDriver.Snapshot.Restore', { Name: base }),
      call('/VolumeDriver.Snapshots.Purge', { Name: 'conc1', Pattern: '1d:1w' }),
      call('/VolumeDriver.Clone', { Name: 'conc1', Target: 'conc1clone' }),
    ]);
    for (const r of results) expect(r.json.Err).toBe('');
    expect(await readFile(join(fx.volumesPath, 'conc1', 'f'), 'utf8')).toBe('base');
    expect((await readdir(fx.volumesPath)).filter((n) => n.startsWith('.'))).toEqual([]);
    // A remove racing snapshots: each snapshot either ran before it or finds no volume.
    const raced = await Promise.all([
      call('/VolumeDriver.Snapshot', { Name: 'conc1' }),
      call('/VolumeDriver.Remove', { Name: 'conc1' }),
      call('/VolumeDriver.Snapshot', { Name: 'conc1' }),
    ]);
    expect(raced[1]!.json.Err).toBe('');
    for (const r of [raced[0]!, raced[2]!])
      expect(['', 'conc1: no such volume']).toContain(r.json.Err);
    await expect(lstat(join(fx.volumesPath, 'conc1'))).rejects.toThrow(/ENOENT/);
  });

  it('parses and summarises thousands of new snapshots in slices, the event loop turning between', async () => {
    // Names only (plain folders). The health check's summaries (metrics, Status) went over
    // every snapshot of every volume in one go, holding every Docker call meanwhile.
    const names = Array.from(
      { length: 3000 },
      (_, i) => `slices@2021-01-01T00:00:00.${String(i).padStart(6, '0')}`,
    );
    for (const name of names) await mkdir(join(fx.snapshotsPath, name));
    try {
      const { snapshots } = daemon.services;
      // A listing taken past the cache's racy window is trusted: no re-read below.
      await sleep(60);
      const turning = async <T>(work: Promise<T>): Promise<[T, number]> => {
        let turns = 0;
        let done = false;
        const tick = () => {
          turns++;
          if (!done) setImmediate(tick);
        };
        setImmediate(tick);
        const value = await work.finally(() => {
          done = true;
        });
        return [value, turns];
      };
      // The new names are parsed as the listing is read, 100 between two turns.
      const [listed, listTurns] = await turning(snapshots.list());
      expect(listed.filter((name) => name.startsWith('slices@'))).toHaveLength(3000);
      expect(listTurns).toBeGreaterThanOrEqual(20);
      expect(await snapshots.count(VolumeName.parse('slices'))).toBe(3000);
      await rm(join(fx.snapshotsPath, names[0]!), { recursive: true });
      await sleep(60);
      await snapshots.list(); // a new listing, read before the summaries are asked
      const [summaries, summaryTurns] = await turning(snapshots.summaries());
      expect(summaries.get('slices')?.count).toBe(2999);
      expect(summaryTurns).toBeGreaterThanOrEqual(10);
    } finally {
      for (const name of names)
        await rm(join(fx.snapshotsPath, name), { recursive: true, force: true });
    }
  });

  it('Get counts snapshots after restores and removals', async () => {
    const get = await call('/VolumeDriver.Get', { Name: 'rest1' });
    const count = (await snapshotsOf('rest1')).length;
    expect((get.json.Volume as { Status: { Snapshots: number } }).Status.Snapshots).toBe(count);
  });
});

describe('purge through the API (COMPAT’s numbers)', () => {
  let fx: Fixture;
  const btrfs = new Btrfs();
  const now = new Date(2026, 10, 24, 19, 0, 0, 0);
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
  });
  afterAll(async () => fx?.cleanup());

  async function twentySnapshots(volume: string): Promise<string[]> {
    await btrfs.createSubvolume(join(fx.volumesPath, volume));
    const names: string[] = [];
    for (let age = 0; age < 20; age++) {
      const name = `${volume}@${formatTimestamp(new Date(now.getTime() - age * HOUR))}`;
      await btrfs.snapshot(join(fx.volumesPath, volume), join(fx.snapshotsPath, name), {
        readonly: true,
      });
      names.push(name);
    }
    return names;
  }

  it('2h:2h purges 18 of 20 hourly snapshots, then nothing more', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const names = await twentySnapshots('purge1');
    await btrfs.createSubvolume(join(fx.volumesPath, 'bystander'));
    const bystander = `bystander@${formatTimestamp(new Date(now.getTime() - 100 * HOUR))}`;
    await btrfs.snapshot(join(fx.volumesPath, 'bystander'), join(fx.snapshotsPath, bystander), {
      readonly: true,
    });

    const dry = await call('/VolumeDriver.Snapshots.Purge', {
      Name: 'purge1',
      Pattern: '2h:2h',
      Dryrun: 'true',
    });
    expect(dry.json.Err).toBe('');
    expect(dry.json.Purged).toHaveLength(18);
    expect(dry.json.Decisions).toHaveLength(20);
    expect((await readdir(fx.snapshotsPath)).length).toBe(21);

    const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'purge1', Pattern: '2h:2h' });
    expect(res.json.Err).toBe('');
    expect(res.json.Purged).toHaveLength(18);
    expect(res.json.Purged).toEqual(dry.json.Purged);
    const decisions = res.json.Decisions as { Name: string; Action: string; Reason: string }[];
    expect(
      decisions
        .filter((d) => d.Action === 'keep')
        .map((d) => d.Name)
        .sort(),
    ).toEqual(names.slice(0, 2).sort());
    for (const d of decisions) expect(d.Reason).not.toBe('');
    expect((await readdir(fx.snapshotsPath)).sort()).toEqual(
      [...names.slice(0, 2), bystander].sort(),
    );

    const again = await call('/VolumeDriver.Snapshots.Purge', {
      Name: 'purge1',
      Pattern: '2h:2h',
      Dryrun: false,
    });
    expect(again.json).toMatchObject({ Err: '', Purged: [] });
  });

  it.each([
    ['2h:4h:8h:16h', 15],
    ['60m:120m:300m:240m:180m', 18],
    // 3.13's single item: ages 0h..19h, so 2h keeps ages 0, 1 and 2.
    ['2h', 17],
    // Newest of each of the last 6 wall-clock hours (now is 19:13): 19h … 14h.
    ['hourly=6', 14],
  ])('%s purges %i', async (pattern, purged) => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const volume = `p${purged}x${pattern.length}`;
    await twentySnapshots(volume);
    const res = await call('/VolumeDriver.Snapshots.Purge', { Name: volume, Pattern: pattern });
    expect(res.json.Err).toBe('');
    expect(res.json.Purged).toHaveLength(purged);
    expect(
      (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith(`${volume}@`)),
    ).toHaveLength(20 - purged);
  });

  it('Get counts our own snapshots and purges from what we did, without a listing of the snapshots folder', async () => {
    // A listing waits in the kernel behind btrfs's deletes (Get's p99 was 92 ms in a purge).
    // Seen here through a snapshot made behind our back: a listing would count it.
    let clock = now;
    const { call, services } = await inProcess(fx.config, { now: () => clock });
    await twentySnapshots('counted');
    const count = async () =>
      (
        (await call('/VolumeDriver.Get', { Name: 'counted' })).json.Volume as {
          Status: { Snapshots: number };
        }
      ).Status.Snapshots;
    expect(await count()).toBe(20);
    const behindOurBack = async (age: number) => {
      const name = `counted@${formatTimestamp(new Date(now.getTime() - age * HOUR))}`;
      await btrfs.snapshot(join(fx.volumesPath, 'counted'), join(fx.snapshotsPath, name), {
        readonly: true,
      });
    };
    const purge = await call('/VolumeDriver.Snapshots.Purge', {
      Name: 'counted',
      Pattern: '2h:2h',
    });
    expect(purge.json.Purged).toHaveLength(18);
    await behindOurBack(50);
    expect(await count()).toBe(2);
    // A fresh listing (what decisions use) sees everything, and so does Get from then on.
    expect(await services.snapshots.list('counted' as never)).toHaveLength(3);
    expect(await count()).toBe(3);
    clock = new Date(now.getTime() + 1000);
    const taken = await call('/VolumeDriver.Snapshot', { Name: 'counted' });
    expect(taken.json.Err).toBe('');
    await behindOurBack(51);
    expect(await count()).toBe(4);
    const listed = await services.snapshots.list('counted' as never);
    expect(listed).toHaveLength(5);
    expect(listed).toContain(taken.json.Snapshot);
    expect(await count()).toBe(5);
  });

  it('a doomed snapshot deleted by someone else meanwhile counts as purged, not as a failure', async () => {
    // The race seen in a soak: a send deleted its old marker while a purge was deleting it.
    // Made certain here: the first doomed path is deleted right before the purge's own delete.
    let raced: string | undefined;
    class RacedBtrfs extends Btrfs {
      override async deleteSubvolumes(paths: readonly string[]) {
        raced = paths[0];
        if (raced) await this.deleteSubvolume(raced);
        return super.deleteSubvolumes(paths);
      }
    }
    const { call } = await inProcess(fx.config, { now: () => now, btrfs: new RacedBtrfs() });
    await twentySnapshots('raced');
    const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'raced', Pattern: '2h:2h' });
    expect(raced).toBeDefined();
    expect(res.json.Err).toBe('');
    expect(res.json.Purged).toHaveLength(18);
    expect((await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('raced@'))).toHaveLength(2);
  });

  it('a snapshot the kernel will not delete fails alone: the others go, the error names it', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const names = await twentySnapshots('stuck');
    // The default subvolume cannot be deleted; btrfs goes on with the rest of its batch.
    const stuck = names[7]!;
    const { stdout: id } = await execa('btrfs', [
      'inspect-internal',
      'rootid',
      join(fx.snapshotsPath, stuck),
    ]);
    await execa('btrfs', ['subvolume', 'set-default', id.trim(), fx.fs.mountPoint]);
    try {
      const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'stuck', Pattern: '2h:2h' });
      expect(res.json.Err).toMatch(
        /^Purge of stuck deleted 17 snapshot\(s\) but failed on 1: stuck@[^:]+:\d\d:\d\d\.\d+: /,
      );
      expect(res.json.Err).toContain(`${stuck}: btrfs subvolume delete failed for`);
      expect(res.json.Err).toMatch(/default subvolume/);
      expect(
        (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('stuck@')).sort(),
      ).toEqual([...names.slice(0, 2), stuck].sort());
      const list = await call('/VolumeDriver.Snapshot.List/stuck', undefined, 'GET');
      expect((list.json.Snapshots as string[]).sort()).toEqual(
        [...names.slice(0, 2), stuck].sort(),
      );
    } finally {
      await execa('btrfs', ['subvolume', 'set-default', '5', fx.fs.mountPoint]);
    }
  });

  it('purges on a full disk, which is when it is needed most', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const names = await twentySnapshots('full');
    // Each snapshot holds its own copy of 2 MiB, so the purge really frees space.
    for (const name of names.slice(2)) {
      await btrfs.deleteSubvolume(join(fx.snapshotsPath, name));
      await writeFile(join(fx.volumesPath, 'full', 'data'), randomBytes(2 * 1024 * 1024));
      await btrfs.snapshot(join(fx.volumesPath, 'full'), join(fx.snapshotsPath, name), {
        readonly: true,
      });
    }
    const filler = join(fx.volumesPath, 'full', 'filler');
    try {
      const dd = await execa('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'status=none'], {
        reject: false,
      });
      expect(dd.stderr).toMatch(/No space left on device/);
      await execa('sync', ['-f', filler]);
      const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'full', Pattern: '2h:2h' });
      expect(res.json.Err).toBe('');
      expect(res.json.Purged).toHaveLength(18);
      expect((await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('full@')).sort()).toEqual(
        names.slice(0, 2).sort(),
      );
    } finally {
      await rm(filler, { force: true });
    }
  });

  it('a calendar dry run names the bucket that keeps each snapshot', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    await twentySnapshots('calendar1');
    const dry = await call('/VolumeDriver.Snapshots.Purge', {
      Name: 'calendar1',
      Pattern: 'hourly=3,daily=1',
      Dryrun: true,
    });
    expect(dry.json.Err).toBe('');
    const kept = (dry.json.Decisions as { Action: string; Reason: string }[]).filter(
      (d) => d.Action === 'keep',
    );
    expect(kept.map((d) => d.Reason).sort()).toEqual(
      [17, 18, 19].map((h) => `kept: newest of 2026-11-24 ${h}h (hourly)`),
    );
    expect(
      (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('calendar1@')),
    ).toHaveLength(20);
  });

  it('an invalid pattern is "Invalid purge pattern…" and deletes nothing', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const before = await fx.listing();
    for (const Pattern of ['60m:plop:3000m', '', '2x', 'x'.repeat(500)]) {
      const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'purge1', Pattern });
      expect(res.json.Err).toMatch(/^Invalid purge pattern/);
    }
    for (const Pattern of ['daily=0', '4h,daily=7', 'monthly=1,min=5m', 'daily=7,daily=7']) {
      const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'purge1', Pattern });
      expect(res.json.Err).toMatch(/^Invalid calendar policy/);
    }
    expect(
      (await call('/VolumeDriver.Snapshots.Purge', { Name: 'purge1', Pattern: 4 })).json.Err,
    ).toMatch(/Pattern: expected a string, got number 4/);
    expect(
      (
        await call('/VolumeDriver.Snapshots.Purge', {
          Name: 'purge1',
          Pattern: '2h:2h',
          Dryrun: 'yes',
        })
      ).json.Err,
    ).toMatch(/Dryrun: expected true or false, got the string "yes"/);
    expect(await fx.listing()).toEqual(before);
  });

  it('spares the newest send marker per host and the snapshot it records', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const names = await twentySnapshots('marked');
    const parent = names[10]!;
    const oldMarker = `${names[15]!}@hostb`;
    const marker = `${parent}@hostb`;
    for (const m of [oldMarker, marker]) {
      await btrfs.snapshot(join(fx.volumesPath, 'marked'), join(fx.snapshotsPath, m), {
        readonly: true,
      });
    }
    const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'marked', Pattern: '2h:2h' });
    expect(res.json.Err).toBe('');
    const left = (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('marked@'));
    expect(left).toContain(marker);
    expect(left).toContain(parent);
    expect(left).not.toContain(oldMarker);
  });

  it('purges 3.x markers whose host part today’s host rule refuses (my_backup) like any other', async () => {
    const { call } = await inProcess(fx.config, { now: () => now });
    const names = await twentySnapshots('legacy');
    const old = `${names[15]!}@my_backup`;
    const newest = `${names[5]!}@my_backup`;
    for (const m of [old, newest]) {
      await btrfs.snapshot(join(fx.volumesPath, 'legacy'), join(fx.snapshotsPath, m), {
        readonly: true,
      });
    }
    const res = await call('/VolumeDriver.Snapshots.Purge', { Name: 'legacy', Pattern: '2h:2h' });
    expect(res.json.Err).toBe('');
    expect(res.json.Purged).toContain(old);
    const left = (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('legacy@'));
    expect(left).not.toContain(old);
    expect(left).toContain(newest);
    expect((await call('/VolumeDriver.Snapshot.Remove', { Name: newest })).json.Err).toBe('');
  });
});
