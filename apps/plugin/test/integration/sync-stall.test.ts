// A sync from a peer whose rsync is stopped (SIGSTOP, ssh still alive) through a real daemon.
// rsync's own --timeout does not fire then; the daemon's stall watch must stop the pull and
// answer a clear Err naming the host and the step, leave no rsync or ssh of ours behind, keep
// the volume's data, and let the next sync succeed.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostB, type HostB, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixture,
  type DaemonProcess,
  daemonEnvOf,
  type Fixture,
  type Json,
  peerRsyncs,
  spawnDaemon,
} from './helpers.js';

// As in peer-faults-daemon.test.ts: long enough for a loaded machine's healthy sync to start.
const STALL_SECONDS = 10;

describe('sync from a stalled peer through a real daemon', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: DaemonProcess;
  const stopped: number[] = [];

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);
    fx = await createFixture(500);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 300 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    daemon = await spawnDaemon({
      ...daemonEnvOf(fx),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      BUTTERVOLUME_TRANSFER_STALL_TIMEOUT: String(STALL_SECONDS),
      BUTTERVOLUME_SSH_OPTIONS: 'ConnectTimeout=5',
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
    });
  });

  afterAll(async () => {
    // Only the processes this test stopped, in B's namespace.
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await daemon?.stop();
    await b?.cleanup();
    await fx?.cleanup();
  });

  /** Our rsync (the local one) and ssh pulling `path`; B's `rsync --server` is not ours. */
  async function ours(path: string): Promise<string[]> {
    const { stdout } = await execa('ps', ['-eo', 'args']);
    return stdout
      .split('\n')
      .filter((l) => l.includes(path))
      .filter(
        (l) => (l.startsWith('rsync ') && !l.startsWith('rsync --server')) || /^ssh /.test(l),
      );
  }

  it('answers a stall Err naming B and the step, leaves nothing running, keeps the data; the next sync works', async () => {
    const volume = 'pulled';
    const local = join(fx.volumesPath, volume);
    const remote = join(fx.volumesPath, volume);
    await b.exec(['btrfs', 'subvolume', 'create', '--', remote]);
    // Enough for the peer's rsync to still be at work when it is stopped.
    await b.exec(['dd', 'if=/dev/urandom', `of=${join(remote, 'data')}`, 'bs=1M', 'count=60']);
    const call = (path: string, body?: unknown) => daemon.call(path, body);
    expect((await call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    await writeFile(join(local, 'mine'), 'kept');

    const started = performance.now();
    let answer: Json | undefined;
    let answeredAt = 0;
    const sync = call('/VolumeDriver.Volume.Sync', { Volumes: [volume], Hosts: [b.address] }).then(
      ({ json }) => {
        answer = json;
        answeredAt = performance.now();
      },
    );
    // Stop B's rsync as soon as it exists: ssh stays up, nothing moves any more.
    for (let attempt = 0; stopped.length === 0; attempt++) {
      if (answer !== undefined || attempt > 3000) {
        throw new Error(`the sync ended before B's rsync was stopped: ${JSON.stringify(answer)}`);
      }
      for (const pid of await peerRsyncs(b)) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
      if (stopped.length === 0) await sleep(5);
    }
    const stoppedAt = performance.now();
    await sync;
    const seconds = (answeredAt - stoppedAt) / 1000;
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
    console.log(
      `stalled sync answered ${seconds.toFixed(1)} s after B's rsync stopped (stall timeout ${STALL_SECONDS} s; ${((answeredAt - started) / 1000).toFixed(1)} s in all; load ${load})`,
    );
    // rsync's own last words follow (the tail of its stderr).
    expect(answer?.Err).toContain(
      `${volume}: nothing moved between here and ${b.address} for ${STALL_SECONDS} s (step: sync): the host or the link is stuck; the rsync of ${volume} was stopped, retry later`,
    );
    // The stall timeout, then SIGTERM and SIGKILL 2 s later, with room for a loaded machine.
    expect(seconds).toBeLessThan(STALL_SECONDS + 20);
    // The safety snapshot was taken before rsync touched anything.
    expect((answer?.Snapshots as string[] | undefined)?.length).toBe(1);
    expect(await ours(local)).toEqual([]);
    // The local content is whole: what was there, and no rsync temporary file.
    expect(await readFile(join(local, 'mine'), 'utf8')).toBe('kept');
    expect((await readdir(local)).filter((name) => name.startsWith('.'))).toEqual([]);

    // B's rsync is gone (its ssh session ended); the next sync pulls everything.
    for (const pid of stopped.splice(0)) process.kill(pid, 'SIGKILL');
    const next = await call('/VolumeDriver.Volume.Sync', { Volumes: [volume], Hosts: [b.address] });
    expect(next.json.Err).toBe('');
    const { stdout } = await b.exec(['sha256sum', '--', join(remote, 'data')]);
    const { stdout: here } = await execa('sha256sum', ['--', join(local, 'data')]);
    expect(here.split(' ')[0]).toBe(stdout.split(' ')[0]);
    expect(await readFile(join(local, 'mine'), 'utf8')).toBe('kept');
    expect(await ours(local)).toEqual([]);
  });
});
