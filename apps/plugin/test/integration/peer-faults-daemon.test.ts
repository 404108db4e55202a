// The fault suite's peer cases through a real daemon process, as an operator meets them: sshd
// killed mid-stream, B blackholed (at connect and mid-stream), the key refused, a receive that
// never ends, B's disk full. Each ends with a clear Err, Docker's calls answered while the send
// still ran, nothing half-done on either host once the next attempt ran, and the next normal
// send succeeding. (The client going away and a peer flooding stderr: peer-faults.test.ts.)
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
  snapshotOfNewVolume,
  spawnDaemon,
} from './helpers.js';

const MiB = 1024 * 1024;
// Short enough for a test, long enough for a loaded machine's ssh to start the receive: under
// load 13 on 2 CPUs, 3 s stopped healthy sends before their first bytes reached B.
const STALL_SECONDS = 10;

describe('peer faults through a real daemon: a clear Err, Docker served meanwhile, the next try works', () => {
  let fx: Fixture;
  let b: HostB;
  let dir: string;
  let key: string;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ssh-keygen', 'ip', 'nsenter', 'pgrep']);
    dir = await mkdtemp(join(tmpdir(), 'bv-peerd-'));
    fx = await createFixture(600);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 300 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    // The daemon's key is a copy we can swap for one B does not know (auth refused).
    key = join(dir, 'id');
    await copyFile(b.identityFile, key);
    daemon = await spawnDaemon({
      ...daemonEnvOf(fx),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      // Rate-limited: a send lasts seconds, long enough to break it in the middle.
      BUTTERVOLUME_SSH_BANDWIDTH_LIMIT: '8M',
      BUTTERVOLUME_TRANSFER_STALL_TIMEOUT: String(STALL_SECONDS),
      BUTTERVOLUME_SSH_COMMAND_TIMEOUT: '3',
      BUTTERVOLUME_SSH_OPTIONS: 'ConnectTimeout=2',
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_IDENTITY_FILE: key,
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
    });
  });

  afterAll(async () => {
    await daemon?.stop();
    await b?.blackhole(false);
    await b?.cleanup();
    await fx?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = (path: string, body?: unknown, method?: 'GET' | 'POST') =>
    daemon.call(path, body, method);

  const volumeWith = (name: string, sizeMiB: number) =>
    snapshotOfNewVolume(call, fx.volumesPath, name, sizeMiB);

  const send = (snapshot: string) =>
    call('/VolumeDriver.Snapshot.Send', { Name: snapshot, Host: b.address }).then((r) => r.json);

  async function bytesSent(): Promise<number> {
    const { json } = await call('/Buttervolume.Transfers', undefined, 'GET');
    return Math.max(0, ...(json.Transfers as { Bytes: number }[]).map((t) => t.Bytes));
  }

  /**
   * Docker's calls on `volume` and on another volume, round after round while `job` runs.
   * Each must succeed; returns how many were answered before the job ended.
   */
  async function dockerMeanwhile(volume: string, job: Promise<unknown>): Promise<number> {
    let done = false;
    job.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    let answeredWhileRunning = 0;
    const answer = async (path: string, body?: unknown) => {
      const { json } = await call(path, body);
      expect(json.Err).toBe('');
      if (!done) answeredWhileRunning++;
    };
    for (let round = 0; !done; round++) {
      const id = `c${round}`;
      const other = `other-${randomBytes(3).toString('hex')}`;
      await answer('/VolumeDriver.Mount', { Name: volume, ID: id });
      await answer('/VolumeDriver.Get', { Name: volume });
      await answer('/VolumeDriver.Path', { Name: volume });
      await answer('/VolumeDriver.List');
      await answer('/VolumeDriver.Unmount', { Name: volume, ID: id });
      await answer('/VolumeDriver.Create', { Name: other });
      await answer('/VolumeDriver.Remove', { Name: other });
      await sleep(20);
    }
    await job;
    return answeredWhileRunning;
  }

  /** Runs `fault` once `job` has moved `bytes`; fails if the job ends before that. */
  async function midStream(job: Promise<Json>, fault: () => Promise<void>): Promise<void> {
    let ended = false;
    job.then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
    while ((await bytesSent()) < 2 * MiB) {
      if (ended) throw new Error(`the send ended before 2 MiB moved: ${JSON.stringify(await job)}`);
      await sleep(20);
    }
    await fault();
  }

  /** A's side and B's side of one snapshot: B's copy (its flags) and our send markers. */
  async function sides(snapshot: string): Promise<{ onB: string | undefined; markers: string[] }> {
    return {
      onB: (await b.showSubvolume(join(fx.snapshotsPath, snapshot)))?.Flags,
      markers: (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith(`${snapshot}@`)),
    };
  }

  /** No btrfs send of `snapshot` and no ssh session to B still runs (the shared master aside). */
  async function noneLeft(snapshot: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const { stdout } = await execa('ps', ['-eo', 'args']);
      const lines = stdout.split('\n');
      const left = lines.filter(
        (l) =>
          l.includes(`send -- ${join(fx.snapshotsPath, snapshot)}`) ||
          (l.startsWith('ssh ') && l.includes(b.address) && !l.includes('[mux]')),
      );
      if (left.length === 0) return;
      if (i === 99) expect(left).toEqual([]);
      await sleep(50);
    }
  }

  /**
   * Waits until the daemon's shared ssh connection to B has closed (ControlPersist): a fault
   * met at connect time (auth, an unreachable host) needs a new connection to show.
   */
  async function noSharedConnection(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const { stdout } = await execa('ps', ['-eo', 'args']);
      // The daemon's control folders are named after its pid (other daemons may run).
      const master = (l: string) => l.includes(`/bv-ssh-${daemon.pid}-`) && l.endsWith('[mux]');
      if (!stdout.split('\n').some(master)) return;
      await sleep(50);
    }
    throw new Error('the shared ssh connection to B did not close');
  }

  /** The next send of `snapshot` goes through whole: a read-only copy on B and our marker. */
  async function nextSendWorks(snapshot: string): Promise<void> {
    expect(await send(snapshot)).toMatchObject({ Err: '', AlreadyPresent: false });
    expect(await sides(snapshot)).toEqual({
      onB: 'readonly',
      markers: [`${snapshot}@${b.address}`],
    });
  }

  it('auth refused (B does not know the key): an auth Err, nothing on B, and with the key back the send works', async () => {
    const snapshot = await volumeWith('refused', 2);
    await noSharedConnection();
    const stranger = join(dir, 'stranger');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    await copyFile(stranger, key);
    try {
      const json = await send(snapshot);
      expect(json.Err).toMatch(new RegExp(`${b.address}.*refused \\(step: auth\\)`));
      expect((json.Err as string).length).toBeLessThan(2000);
    } finally {
      await copyFile(b.identityFile, key);
    }
    expect(await sides(snapshot)).toEqual({ onB: undefined, markers: [] });
    await noneLeft(snapshot);
    await nextSendWorks(snapshot);
  }, 240_000);

  it('sshd killed mid-stream: an Err naming B, Docker served meanwhile; the next send replaces the partial copy', async () => {
    const snapshot = await volumeWith('sshdkill', 24);
    const job = send(snapshot);
    let killing: Promise<void> | undefined;
    const watch = midStream(job, () => {
      killing = b.stopSsh();
      return killing;
    });
    watch.catch(() => {}); // awaited below, after the job
    try {
      const rounds = await dockerMeanwhile('sshdkill', job);
      await watch;
      expect(rounds).toBeGreaterThan(0);
      const json = await job;
      expect(json.Err).toMatch(new RegExp(`${b.address}`));
      expect((json.Err as string).length).toBeLessThan(2000);
      // B was gone for the clean-up: a half-received copy may stay (writable, never passing for
      // whole) until the next try.
      const left = await sides(snapshot);
      expect(left.markers).toEqual([]);
      expect(left.onB).not.toBe('readonly');
      await noneLeft(snapshot);
    } finally {
      await killing;
      await b.startSsh();
    }
    await nextSendWorks(snapshot);
  }, 240_000);

  it('B blackholed: at connect a connect Err naming B; mid-stream a stall Err; Docker served; the retry completes', async () => {
    const small = await volumeWith('holed', 1);
    await noSharedConnection();
    await b.blackhole(true);
    try {
      const job = send(small);
      await dockerMeanwhile('holed', job);
      const json = await job;
      expect(json.Err).toMatch(new RegExp(`cannot connect to ${b.address}`));
      expect(await sides(small)).toEqual({ onB: undefined, markers: [] });
    } finally {
      await b.blackhole(false);
    }
    await nextSendWorks(small);

    const snapshot = await volumeWith('holedmid', 24);
    const job = send(snapshot);
    let holing: Promise<void> | undefined;
    const watch = midStream(job, () => {
      holing = b.blackhole(true);
      return holing;
    });
    watch.catch(() => {}); // awaited below, after the job
    try {
      const rounds = await dockerMeanwhile('holedmid', job);
      await watch;
      expect(rounds).toBeGreaterThan(0);
      const json = await job;
      expect(json.Err).toMatch(new RegExp(b.address));
      expect((await sides(snapshot)).markers).toEqual([]);
      await noneLeft(snapshot);
    } finally {
      await holing;
      await b.blackhole(false);
    }
    await nextSendWorks(snapshot);
  }, 240_000);

  it('a receive that never ends: stopped by the stall timeout with an Err saying so, Docker served meanwhile, nothing left', async () => {
    // B accepts the session and then neither reads nor exits.
    const stuck = join(dir, 'stuck');
    await writeFile(stuck, `#!${process.execPath}\nsetInterval(() => {}, 1 << 30);\n`, {
      mode: 0o755,
    });
    const snapshot = await volumeWith('neverends', 3);
    // A session on the shared connection B accepted earlier would not run the forced command.
    await noSharedConnection();
    await b.forceCommand(stuck);
    try {
      const job = send(snapshot);
      const rounds = await dockerMeanwhile('neverends', job);
      expect(rounds).toBeGreaterThan(0);
      const json = await job;
      expect(json.Err).toMatch(new RegExp(`nothing moved .* for ${STALL_SECONDS} s`));
      await noneLeft(snapshot);
    } finally {
      await b.forceCommand(undefined);
      // B's operator ends the hung receives. Until then they hold the shared connection, on
      // which every new session would run the forced command too (it is set per login).
      const hung = await execa('pgrep', ['-f', stuck], { reject: false });
      for (const pid of hung.stdout.split('\n').filter(Boolean))
        process.kill(Number(pid), 'SIGKILL');
    }
    expect(await sides(snapshot)).toEqual({ onB: undefined, markers: [] });
    await noSharedConnection();
    await nextSendWorks(snapshot);
  }, 240_000);

  it('B’s disk full: a no-space Err from the receive, no marker, no copy passing for whole; with space back the send works', async () => {
    const snapshot = await volumeWith('bfull', 40);
    const filler = await b.fillDisk();
    try {
      const job = send(snapshot);
      await dockerMeanwhile('bfull', job);
      const json = await job;
      expect(json.Err).toMatch(new RegExp(`${b.address} ran out of space receiving into`));
      // Never a copy that passes for whole, and no marker. B may keep the writable partial copy
      // (seen once through the daemon's throttled send over its shared connection, where the
      // library's send leaves none): the next send replaces it, as checked below.
      const left = await sides(snapshot);
      expect(left.markers).toEqual([]);
      expect(left.onB).not.toBe('readonly');
      await noneLeft(snapshot);
    } finally {
      await b.exec(['rm', '-f', '--', filler]);
      await b.exec(['sync']);
    }
    await nextSendWorks(snapshot);
  }, 240_000);
});
