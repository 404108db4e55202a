import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { parseJob } from '@buttervolume/scheduler';
import { createHostB, type HostB, requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobExecutor, type DaemonApp } from '../../src/index.js';
import { type Caller, createFixture, type Fixture, inProcess, type Json } from './helpers.js';

const MiB = 1024 * 1024;
const PROOF = '/tmp/bv-replication-hostile';

describe('Snapshot.Send, Volume.Sync and Transfers through the API, with a real host B', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: DaemonApp;
  let call: Caller;
  let host: string;
  const btrfs = new Btrfs();

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'dd', 'ip', 'nsenter']);
    fx = await createFixture(700);
    // B mounts its own btrfs at the same path, so both hosts share one configuration.
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 400 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    host = b.address;
    const started = await inProcess(fx.config, {
      ssh: {
        ...b.ssh,
        connectTimeoutSec: 3,
      },
    });
    daemon = started;
    call = started.call;
  });

  afterAll(async () => {
    await daemon?.replication.close();
    await b?.cleanup();
    await fx?.cleanup();
  });

  async function volumeWith(name: string, sizeMiB: number): Promise<void> {
    expect((await call('/VolumeDriver.Create', { Name: name })).json.Err).toBe('');
    for (let i = 0; i < sizeMiB; i++) {
      await appendFile(join(fx.volumesPath, name, 'data'), randomBytes(MiB));
    }
  }

  async function snapshot(volume: string): Promise<string> {
    const { json } = await call('/VolumeDriver.Snapshot', { Name: volume });
    expect(json.Err).toBe('');
    return json.Snapshot as string;
  }

  it('sends fully, then incrementally from the marker (B builds on its copy of the parent)', async () => {
    await volumeWith('alpha', 12);
    const s1 = await snapshot('alpha');
    const full = (await call('/VolumeDriver.Snapshot.Send', { Name: s1, Host: host })).json;
    expect(full).toMatchObject({
      Err: '',
      Incremental: false,
      Parent: null,
      AlreadyPresent: false,
    });
    expect(full.Bytes).toBeGreaterThan(12 * MiB);
    expect(typeof full.DurationMs).toBe('number');

    await writeFile(join(fx.volumesPath, 'alpha', 'small'), 'six b!');
    const s2 = await snapshot('alpha');
    const incremental = (await call('/VolumeDriver.Snapshot.Send', { Name: s2, Host: host })).json;
    expect(incremental).toMatchObject({ Err: '', Incremental: true, Parent: s1 });
    expect(incremental.Bytes).toBeLessThan(64 * 1024);

    const onB1 = await b.showSubvolume(join(fx.snapshotsPath, s1));
    const onB2 = await b.showSubvolume(join(fx.snapshotsPath, s2));
    expect(onB2?.Flags).toBe('readonly');
    expect(onB2?.['Parent UUID']).toBe(onB1?.UUID);
    expect(onB2?.['Received UUID']).toBe((await btrfs.show(join(fx.snapshotsPath, s2))).uuid);
    // The one marker for (alpha, B) is listed like any snapshot.
    const listed = (await call('/VolumeDriver.Snapshot.List/alpha', undefined, 'GET')).json
      .Snapshots as string[];
    expect(listed.filter((n) => n.endsWith(`@${host}`))).toEqual([`${s2}@${host}`]);

    const again = (await call('/VolumeDriver.Snapshot.Send', { Name: s2, Host: host })).json;
    expect(again).toMatchObject({ Err: '', AlreadyPresent: true, Bytes: 0 });
  });

  it('Incremental: false (or "false") forces a full send', async () => {
    const s3 = await snapshot('alpha');
    const { json } = await call('/VolumeDriver.Snapshot.Send', {
      Name: s3,
      Host: host,
      Incremental: 'false',
    });
    expect(json).toMatchObject({ Err: '', Incremental: false, Parent: null });
    expect(json.Bytes).toBeGreaterThan(12 * MiB);
  });

  it('a replicate:<host>,skip-unchanged job on an unchanged volume takes and sends nothing', async () => {
    await volumeWith('gamma', 1);
    const execute = createJobExecutor(daemon.services, {
      send: (snapshot, to, options) => daemon.replication.send(snapshot, to, options),
      sync: () => Promise.reject(new Error('not used')),
    });
    const job = parseJob({ Name: 'gamma', Action: `replicate:${host},skip-unchanged`, Timer: 60 });
    const onB = async () =>
      (await b.exec(['ls', '--', fx.snapshotsPath])).stdout
        .split('\n')
        .filter((n) => n.startsWith('gamma@'));
    const here = async () =>
      (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith('gamma@'));
    const signal = new AbortController().signal;
    // No marker yet: the first run snapshots and sends.
    expect(await execute(job, signal)).toBeUndefined();
    expect(await onB()).toHaveLength(1);
    const before = { here: await here(), onB: await onB() };
    expect(await execute(job, signal)).toEqual({ skipped: 'unchanged' });
    expect(await execute(job, signal)).toEqual({ skipped: 'unchanged' });
    expect({ here: await here(), onB: await onB() }).toEqual(before);
    // A chmod is a change too: the next run sends it.
    await chmod(join(fx.volumesPath, 'gamma', 'data'), 0o600);
    expect(await execute(job, signal)).toBeUndefined();
    expect(await onB()).toHaveLength(2);
  });

  it("applies a policy to B's copies: Send with Purge, a replicate:<host>,purge= job, and Purge with Host (dry run first); bad input changes nothing", async () => {
    await volumeWith('delta', 1);
    const onB = async () =>
      (await b.exec(['ls', '--', fx.snapshotsPath])).stdout
        .split('\n')
        .filter((n) => n.startsWith('delta@'));
    const send = (body: Json) => call('/VolumeDriver.Snapshot.Send', body);
    const s1 = await snapshot('delta');
    expect((await send({ Name: s1, Host: host })).json.Err).toBe('');
    const s2 = await snapshot('delta');
    const before = { here: await fx.listing(), onB: await onB() };
    for (const [body, message] of [
      [{ Name: s2, Host: host, Purge: '4h,daily=7' }, /policy|pattern/i],
      [{ Name: s2, Host: host, Purge: 42 }, /Purge/],
      [{ Name: 'delta', Pattern: 'hourly=1', Host: '-oProxyCommand=x' }, /Host/],
      [{ Name: 'delta', Pattern: 'daily=0', Host: host }, /policy|pattern|daily/i],
      [{ Name: '../x', Pattern: 'hourly=1', Host: host }, /Name/],
    ] as const) {
      const path =
        'Purge' in body ? '/VolumeDriver.Snapshot.Send' : '/VolumeDriver.Snapshots.Purge';
      expect((await call(path, body)).json.Err).toMatch(message);
    }
    expect({ here: await fx.listing(), onB: await onB() }).toEqual(before);

    // hourly=1: the newest copy of this hour only (the one just sent, the next send's parent).
    const sent = (await send({ Name: s2, Host: host, Purge: 'hourly=1' })).json;
    expect(sent).toMatchObject({ Err: '', Incremental: true, HostPurge: { Purged: [s1] } });
    expect(await onB()).toEqual([s2]);

    const execute = createJobExecutor(daemon.services, {
      send: (snapshot, to, options) => daemon.replication.send(snapshot, to, options),
      sync: () => Promise.reject(new Error('not used')),
    });
    const job = parseJob({ Name: 'delta', Action: `replicate:${host},purge=hourly=1`, Timer: 60 });
    expect(job.actionText).toBe(`replicate:${host},purge=hourly=1`);
    expect(await execute(job, new AbortController().signal)).toBeUndefined();
    const [s3] = await onB();
    expect(s3).not.toBe(s2);

    const s4 = await snapshot('delta');
    expect((await send({ Name: s4, Host: host })).json).toMatchObject({ Err: '', Parent: s3 });
    const purge = (body: Json) => call('/VolumeDriver.Snapshots.Purge', body);
    const preview = (await purge({ Name: 'delta', Pattern: 'hourly=1', Host: host, Dryrun: true }))
      .json;
    expect(preview).toMatchObject({ Err: '', Purged: [s3] });
    expect(preview.Decisions).toContainEqual({
      Name: s4,
      Action: 'keep',
      Reason: `kept: parent of the next incremental send to ${host}`,
    });
    expect(await onB()).toEqual([s3, s4]);
    expect((await purge({ Name: 'delta', Pattern: 'hourly=1', Host: host })).json).toMatchObject({
      Err: '',
      Purged: [s3],
    });
    expect(await onB()).toEqual([s4]);
    // Every local snapshot stays: only B's copies were purged.
    expect((await fx.listing()).snapshots).toEqual(expect.arrayContaining([s1, s2, s4]));
  });

  it('lists a send in flight in Transfers, and nothing once it is done', async () => {
    await volumeWith('beta', 40);
    const s1 = await snapshot('beta');
    const sending = call('/VolumeDriver.Snapshot.Send', { Name: s1, Host: host });
    let done = false;
    void sending.finally(() => {
      done = true;
    });
    const seen: Json[] = [];
    while (!done) {
      const { json } = await call('/Buttervolume.Transfers', undefined, 'GET');
      expect(json.Err).toBe('');
      seen.push(...(json.Transfers as Json[]));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const sent = (await sending).json;
    expect(sent.Err).toBe('');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toMatchObject({ Snapshot: s1, Host: host });
    for (const t of seen) {
      expect(typeof t.Bytes).toBe('number');
      expect(typeof t.ElapsedMs).toBe('number');
      expect(typeof t.RateBytesPerSec).toBe('number');
    }
    // Live values come from the sender's kernel write counter, seen one byte above the exact
    // stream size at the very end before the exact size replaces it: they rise up to the size.
    const exact = sent.Bytes as number;
    const bytes = seen.map((t) => t.Bytes as number);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(exact + 1);
    const upToExact = bytes.map((b) => Math.min(b, exact));
    expect(upToExact).toEqual([...upToExact].sort((x, y) => x - y));
    expect((await call('/Buttervolume.Transfers', undefined, 'GET')).json).toEqual({
      Err: '',
      Transfers: [],
    });
  });

  it('an unknown snapshot is an Err naming it', async () => {
    const name = 'alpha@2020-01-01T00:00:00.000000';
    const { status, json } = await call('/VolumeDriver.Snapshot.Send', { Name: name, Host: host });
    expect(status).toBe(200);
    expect(json.Err).toContain(name);
    expect(json.Err).toMatch(/No such snapshot/);
  });

  it.each([
    ['-oProxyCommand=touch /tmp/bv-replication-hostile'],
    ['$(touch /tmp/bv-replication-hostile)'],
    ['`touch /tmp/bv-replication-hostile`'],
    ["b'; touch /tmp/bv-replication-hostile; '"],
    ['a b'],
    ['../x'],
    [''],
    ['h'.repeat(300)],
    [42],
    [null],
    [['h1']],
  ])('Send to the host %j: an Err, and nothing runs or changes', async (hostile) => {
    await rm(PROOF, { force: true });
    const s1 = (await call('/VolumeDriver.Snapshot.List/alpha', undefined, 'GET')).json
      .Snapshots as string[];
    const before = await fx.listing();
    const { status, json } = await call('/VolumeDriver.Snapshot.Send', {
      Name: s1[0],
      Host: hostile,
    });
    expect(status).toBe(200);
    expect(json.Err).toMatch(/Host/);
    expect(existsSync(PROOF)).toBe(false);
    expect(await fx.listing()).toEqual(before);
    expect((await call('/Buttervolume.Transfers', undefined, 'GET')).json.Transfers).toEqual([]);
  });

  it.each([
    [{ Name: '../x@2020-01-01T00:00:00.000000', Host: 'h' }, /Name/],
    [{ Name: 'alpha', Host: 'h' }, /Name/],
    [{ Name: '$(touch /tmp/bv-replication-hostile)@x', Host: 'h' }, /Name/],
    [{ Host: 'h' }, /Name/],
    [{ Name: 'alpha@2020-01-01T00:00:00.000000', Host: 'h', Incremental: 'maybe' }, /Incremental/],
    ['{"Name": ', /JSON/],
    ['[1, 2]', /object/],
  ])('Send with %j: a clear Err', async (request, message) => {
    const before = await fx.listing();
    const { json } = await call('/VolumeDriver.Snapshot.Send', request);
    expect(json.Err).toMatch(message);
    expect(existsSync(PROOF)).toBe(false);
    expect(await fx.listing()).toEqual(before);
  });

  it('syncs from B and from a host that is down: B syncs, the Err names the other, a safety snapshot first', async () => {
    const volume = 'zeta';
    await b.exec(['btrfs', 'subvolume', 'create', '--', join(fx.volumesPath, volume)]);
    await b.exec(['tee', '--', join(fx.volumesPath, volume, 'from-b.txt')], {
      input: 'written on B\n',
    });
    expect((await call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    await writeFile(join(fx.volumesPath, volume, 'stale.txt'), 'only here');
    // A's own end of the veth: a real address with no sshd behind it.
    const down = b.localAddress;

    const { json } = await call('/VolumeDriver.Volume.Sync', {
      Volumes: [volume],
      Hosts: [down, host],
      Delete: true,
    });
    expect(json.Err).toContain(down);
    expect(json.Err).not.toContain(`to ${host} `);
    const errors = json.Errors as Json[];
    expect(errors.map((e) => e.Host)).toEqual([down]);
    expect(errors[0]?.Err).toMatch(/cannot connect/);
    // B's content replaced ours (Delete: true) ...
    expect((await readdir(join(fx.volumesPath, volume))).sort()).toEqual(['from-b.txt']);
    expect(await readFile(join(fx.volumesPath, volume, 'from-b.txt'), 'utf8')).toBe(
      'written on B\n',
    );
    expect(await btrfs.isSubvolume(join(fx.volumesPath, volume))).toBe(true);
    // ... and the state before the sync is kept in a read-only snapshot.
    const snapshots = json.Snapshots as string[];
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toMatch(/^zeta@/);
    const safety = join(fx.snapshotsPath, snapshots[0]!);
    expect(await btrfs.isReadOnly(safety)).toBe(true);
    expect(await readFile(join(safety, 'stale.txt'), 'utf8')).toBe('only here');
  });

  it('syncing from B alone answers an empty Err', async () => {
    const { json } = await call('/VolumeDriver.Volume.Sync', {
      Volumes: ['zeta'],
      Hosts: [host],
    });
    expect(json).toMatchObject({ Err: '', Errors: [] });
    expect(json.Snapshots as string[]).toHaveLength(1);
  });

  it.each([
    [{ Volumes: ['nosuch'], Hosts: ['h'] }, /nosuch: no such volume/],
    [{ Volumes: ['zeta', 'nosuch'], Hosts: ['h'] }, /nosuch: no such volume/],
    [{ Volumes: ['../x'], Hosts: ['h'] }, /Volumes/],
    [{ Volumes: ['zeta'], Hosts: ['-oProxyCommand=touch /tmp/bv-replication-hostile'] }, /Hosts/],
    [{ Volumes: ['zeta'], Hosts: [] }, /Hosts/],
    [{ Volumes: 'zeta', Hosts: ['h'] }, /Volumes/],
    [{ Volumes: ['zeta'], Hosts: ['h'], Delete: 'yes' }, /Delete/],
    [{}, /Volumes/],
    ['not json', /JSON/],
  ])('Sync with %j: an Err, nothing created or changed', async (request, message) => {
    await rm(PROOF, { force: true });
    const before = await fx.listing();
    const { json } = await call('/VolumeDriver.Volume.Sync', request);
    expect(json.Err).toMatch(message);
    expect(existsSync(PROOF)).toBe(false);
    expect(await fx.listing()).toEqual(before);
    expect(existsSync(join(fx.volumesPath, 'nosuch'))).toBe(false);
  });
});
