import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHostB, type HostB, requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type DaemonProcess, type Fixture, spawnDaemon } from './helpers.js';

// The daemon learns how to reach other hosts from its configuration alone: no option passed in
// code, no ~/.ssh (root has none here), so a send that works proves the env vars were used.
describe('ssh settings from BUTTERVOLUME_SSH_* reach the replication of a real daemon', () => {
  let fx: Fixture;
  let b: HostB;
  const running: DaemonProcess[] = [];

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ip', 'nsenter']);
    fx = await createFixture();
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 200 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
  });

  afterAll(async () => {
    for (const daemon of running) await daemon.stop();
    await b?.cleanup();
    await fx?.cleanup();
  });

  async function daemonWith(ssh: Record<string, string>): Promise<DaemonProcess> {
    const daemon = await spawnDaemon({
      BUTTERVOLUME_VOLUMES_PATH: fx.config.volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: fx.config.snapshotsPath,
      BUTTERVOLUME_RUNPATH: fx.config.runPath,
      BUTTERVOLUME_SOCKET: fx.config.socket,
      BUTTERVOLUME_SCHEDULE: fx.config.schedule,
      BUTTERVOLUME_CONFIG_FILE: join(fx.fs.dir, 'no-config.ini'),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
      BUTTERVOLUME_SSH_OPTIONS: 'ConnectTimeout=5,ServerAliveInterval=5',
      ...ssh,
    });
    running.push(daemon);
    return daemon;
  }

  async function stopAll(): Promise<void> {
    for (const daemon of running.splice(0)) await daemon.stop();
  }

  async function onB(snapshot: string): Promise<boolean> {
    const path = join(fx.snapshotsPath, snapshot);
    return (
      (await b.exec(['btrfs', 'subvolume', 'show', '--', path], { reject: false })).exitCode === 0
    );
  }

  async function snapshotOf(daemon: DaemonProcess, volume: string): Promise<string> {
    const { json } = await daemon.call('/VolumeDriver.Snapshot', { Name: volume });
    expect(json.Err).toBe('');
    return json.Snapshot as string;
  }

  it('sends with SSH_IDENTITY_FILE and SSH_USER=root', async () => {
    const daemon = await daemonWith({
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_USER: 'root',
    });
    expect((await daemon.call('/VolumeDriver.Create', { Name: 'keyed' })).json.Err).toBe('');
    await writeFile(join(fx.volumesPath, 'keyed', 'data'), 'sent with the configured key');
    const snapshot = await snapshotOf(daemon, 'keyed');
    const { json } = await daemon.call('/VolumeDriver.Snapshot.Send', {
      Name: snapshot,
      Host: b.address,
    });
    expect(json).toMatchObject({ Err: '', Incremental: false, AlreadyPresent: false });
    expect(await onB(snapshot)).toBe(true);
    await stopAll();
  });

  it('without SSH_IDENTITY_FILE the same send is refused by host B', async () => {
    const daemon = await daemonWith({});
    const snapshot = await snapshotOf(daemon, 'keyed');
    const { json } = await daemon.call('/VolumeDriver.Snapshot.Send', {
      Name: snapshot,
      Host: b.address,
    });
    expect(json.Err).toMatch(/Permission denied|authenticat/i);
    expect(await onB(snapshot)).toBe(false);
    await stopAll();
  });

  it('with another SSH_USER the key is offered for that user, and B refuses it', async () => {
    const daemon = await daemonWith({
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_USER: 'bv-nosuchuser',
    });
    const snapshot = await snapshotOf(daemon, 'keyed');
    const { json } = await daemon.call('/VolumeDriver.Snapshot.Send', {
      Name: snapshot,
      Host: b.address,
    });
    expect(json.Err).toMatch(/bv-nosuchuser|Permission denied|authenticat/i);
    expect(await onB(snapshot)).toBe(false);
    await stopAll();
  });

  it('refuses to start with a hostile SSH_OPTIONS, naming the variable', async () => {
    await expect(
      daemonWith({ BUTTERVOLUME_SSH_OPTIONS: '-oProxyCommand=touch\t/tmp/bv-pwned' }),
    ).rejects.toThrow(/Invalid configuration SSH_OPTIONS \(from BUTTERVOLUME_SSH_OPTIONS\)/);
  });
});
