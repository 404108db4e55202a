// Docker's calls never wait on a long job: a sync from a peer whose rsync is stopped (SIGSTOP,
// ssh still alive) and a purge of many snapshots run on a volume while Docker mounts, inspects,
// unmounts it and creates and removes others. Without the split locks, Mount waits forever here.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostB, type HostB, requireRealEnvironment, tryKill } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonApp } from '../../src/index.js';
import {
  type Caller,
  createFixture,
  type Fixture,
  inProcess,
  type Json,
  peerRsyncs,
  readOnlySnapshot,
} from './helpers.js';

describe('Docker calls while a stalled sync and a purge run on the volume', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: DaemonApp;
  let call: Caller;
  const stopped: number[] = [];

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);
    fx = await createFixture(700);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 300 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    const started = await inProcess(fx.config, { ssh: { ...b.ssh, connectTimeoutSec: 5 } });
    daemon = started;
    call = started.call;
  });

  afterAll(async () => {
    for (const pid of stopped) tryKill(pid, 'SIGKILL');
    await daemon?.replication.close();
    await b?.cleanup();
    await fx?.cleanup();
  });

  it('answers Mount, Get, Path, Unmount, List, Create and Remove of others; Remove of the volume says it is busy', async () => {
    const volume = 'busy';
    // B holds 40 MiB to send: the peer's rsync is still at work when it is stopped.
    const onB = join(fx.volumesPath, volume);
    await b.exec(['btrfs', 'subvolume', 'create', '--', onB]);
    await b.exec(['dd', 'if=/dev/urandom', `of=${join(onB, 'data')}`, 'bs=1M', 'count=40']);
    expect((await call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    // 150 old snapshots for the purge to delete.
    for (let i = 0; i < 150; i++) {
      const name = `${volume}@2020-01-01T00:00:00.${String(i).padStart(6, '0')}`;
      await readOnlySnapshot(join(fx.volumesPath, volume), join(fx.snapshotsPath, name));
    }

    let syncAnswer: Json | undefined;
    const sync = call('/VolumeDriver.Volume.Sync', { Volumes: [volume], Hosts: [b.address] }).then(
      ({ json }) => {
        syncAnswer = json;
      },
    );
    // Stop the peer's rsync as soon as it exists: ssh stays up, the transfer hangs.
    for (let attempt = 0; stopped.length === 0; attempt++) {
      if (syncAnswer !== undefined || attempt > 3000) {
        throw new Error(
          `the sync ended before its rsync could be stopped: ${JSON.stringify(syncAnswer)}`,
        );
      }
      for (const pid of await peerRsyncs(b)) {
        // One of rsync's processes may end between the listing and the signal.
        if (tryKill(pid, 'SIGSTOP')) stopped.push(pid);
      }
      if (stopped.length === 0) await sleep(5);
    }
    let purgeAnswer: Json | undefined;
    const purge = call('/VolumeDriver.Snapshots.Purge', { Name: volume, Pattern: '1h:1d' }).then(
      ({ json }) => {
        purgeAnswer = json;
      },
    );

    const mountpoint = join(fx.volumesPath, volume);
    expect((await call('/VolumeDriver.Mount', { Name: volume, ID: 'c1' })).json).toEqual({
      Mountpoint: mountpoint,
      Err: '',
    });
    expect((await call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe('');
    expect((await call('/VolumeDriver.Path', { Name: volume })).json.Mountpoint).toBe(mountpoint);
    expect((await call('/VolumeDriver.Unmount', { Name: volume, ID: 'c1' })).json.Err).toBe('');
    expect((await call('/VolumeDriver.Capabilities')).json.Capabilities).toEqual({
      Scope: 'local',
    });
    const other = `other-${randomBytes(3).toString('hex')}`;
    expect((await call('/VolumeDriver.Create', { Name: other })).json.Err).toBe('');
    expect((await call('/VolumeDriver.Mount', { Name: other, ID: 'c2' })).json.Err).toBe('');
    expect((await call('/VolumeDriver.Unmount', { Name: other, ID: 'c2' })).json.Err).toBe('');
    const names = ((await call('/VolumeDriver.List')).json.Volumes as { Name: string }[]).map(
      (v) => v.Name,
    );
    expect(names).toEqual(expect.arrayContaining([volume, other]));
    expect((await call('/VolumeDriver.Remove', { Name: other })).json.Err).toBe('');
    expect((await call('/VolumeDriver.Snapshot', { Name: volume })).json.Err).toBe('');
    // Removing the volume being synced is refused at once rather than left waiting.
    expect((await call('/VolumeDriver.Remove', { Name: volume })).json.Err).toBe(
      `${volume} is busy: a sync is running on it; try again once it ends (buttervolume's log says when)`,
    );
    // All of that happened while the peer's rsync was stopped.
    expect(syncAnswer).toBeUndefined();

    for (const pid of stopped.splice(0)) tryKill(pid, 'SIGKILL');
    await Promise.all([sync, purge]);
    expect(syncAnswer?.Err).toMatch(new RegExp(b.address));
    expect(purgeAnswer?.Err).toBe('');
    // Every old snapshot went (but the newest, which a purge keeps); the new ones stayed.
    expect((purgeAnswer?.Purged as string[] | undefined)?.length).toBeGreaterThanOrEqual(149);
    // With the sync over, the volume is removed normally.
    expect((await call('/VolumeDriver.Remove', { Name: volume })).json.Err).toBe('');
  });
});
