import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHostB, type HostB, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixture,
  type DaemonProcess,
  daemonEnvOf,
  type Fixture,
  spawnDaemon,
} from './helpers.js';

const MiB = 1024 * 1024;

// kill -9 of the daemon in the middle of a send and of a sync, then a restart: no stale lock,
// nothing partial kept on B once the next attempt ran, nothing lost, and the next send still
// incremental.
describe('the daemon killed (SIGKILL) during a send or a sync', () => {
  let fx: Fixture;
  let b: HostB;
  let env: Record<string, string>;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);
    fx = await createFixture(500);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 400 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    env = {
      ...daemonEnvOf(fx),
      // Rate-limited: the send takes seconds, long enough to be killed in the middle.
      BUTTERVOLUME_SSH_BANDWIDTH_LIMIT: '8M',
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
    };
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.stop();
    await b?.cleanup();
    await fx?.cleanup();
  });

  async function start(): Promise<DaemonProcess> {
    const daemon = await spawnDaemon(env);
    daemons.push(daemon);
    return daemon;
  }

  /** Waits until no process matching `pattern` runs any more (the killed daemon's children). */
  async function gone(pattern: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if ((await execa('pgrep', ['-f', pattern], { reject: false })).stdout === '') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`processes matching ${pattern} still run`);
  }

  it('during a send: the next attempt replaces B’s partial copy, and the send after is incremental', async () => {
    let daemon = await start();
    expect((await daemon.call('/VolumeDriver.Create', { Name: 'crashsend' })).json.Err).toBe('');
    for (let i = 0; i < 40; i++) {
      await appendFile(join(fx.volumesPath, 'crashsend', 'data'), randomBytes(MiB));
    }
    const s1 = (await daemon.call('/VolumeDriver.Snapshot', { Name: 'crashsend' })).json
      .Snapshot as string;
    void daemon.call('/VolumeDriver.Snapshot.Send', { Name: s1, Host: b.address }).catch(() => {});
    for (let i = 0; i < 600; i++) {
      const { json } = await daemon.call('/Buttervolume.Transfers', undefined, 'GET');
      if ((json.Transfers as { Bytes: number }[]).some((t) => t.Bytes > 4 * MiB)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await daemon.crash();
    await gone(`send.*${s1}`);
    // B is left with what an interrupted receive leaves: a writable subvolume, no marker here.
    expect((await b.showSubvolume(join(fx.snapshotsPath, s1)))?.Flags).not.toBe('readonly');
    expect((await readdir(fx.snapshotsPath)).filter((n) => n.startsWith(`${s1}@`))).toEqual([]);

    daemon = await start();
    const again = await daemon.call('/VolumeDriver.Snapshot.Send', { Name: s1, Host: b.address });
    expect(again.json).toMatchObject({ Err: '', Incremental: false, AlreadyPresent: false });
    expect((await b.showSubvolume(join(fx.snapshotsPath, s1)))?.Flags).toBe('readonly');

    await appendFile(join(fx.volumesPath, 'crashsend', 'more'), randomBytes(MiB));
    const s2 = (await daemon.call('/VolumeDriver.Snapshot', { Name: 'crashsend' })).json
      .Snapshot as string;
    const next = await daemon.call('/VolumeDriver.Snapshot.Send', { Name: s2, Host: b.address });
    expect(next.json).toMatchObject({ Err: '', Incremental: true, Parent: s1 });
    await daemon.stop();
  });

  it('during a sync: after a restart the volume is served and the next sync completes it', async () => {
    const volume = 'crashsync';
    const onB = join(fx.volumesPath, volume);
    await b.exec(['btrfs', 'subvolume', 'create', '--', onB]);
    await b.exec(['dd', 'if=/dev/urandom', `of=${join(onB, 'big')}`, 'bs=1M', 'count=120']);
    let daemon = await start();
    expect((await daemon.call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    void daemon
      .call('/VolumeDriver.Volume.Sync', { Volumes: [volume], Hosts: [b.address] })
      .catch(() => {});
    for (let i = 0; i < 600; i++) {
      if ((await execa('pgrep', ['-f', `rsync.*${volume}/`], { reject: false })).stdout !== '') {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await daemon.crash();

    daemon = await start();
    // No stale lock: Docker's calls on the volume and a snapshot answer at once.
    expect((await daemon.call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe('');
    expect((await daemon.call('/VolumeDriver.Snapshot', { Name: volume })).json.Err).toBe('');
    await gone(`rsync.*${volume}/`);
    const sync = await daemon.call('/VolumeDriver.Volume.Sync', {
      Volumes: [volume],
      Hosts: [b.address],
    });
    expect(sync.json.Err).toBe('');
    // Exactly B's content: the file whole, no rsync temporary left beside it.
    expect(await readdir(join(fx.volumesPath, volume))).toEqual(['big']);
    const remote = await b.exec(['sha256sum', '--', join(onB, 'big')]);
    const local = await execa('sha256sum', ['--', join(fx.volumesPath, volume, 'big')]);
    expect(local.stdout.split(' ')[0]).toBe(remote.stdout.split(' ')[0]);
    expect((await readFile(join(fx.volumesPath, volume, 'big'))).length).toBe(120 * MiB);
    await daemon.stop();
  });
});
