import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPRESSED_SEND_ARGS } from '@buttervolume/btrfs';
import {
  type HostName,
  InvalidNameError,
  type SnapshotName,
  type VolumeName,
} from '@buttervolume/names';
import {
  type HostB,
  type LoopBtrfs,
  MiB,
  requireRealEnvironment,
  untilNoProcessMentions,
  writeRandom,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Progress, Replicator, SyncFailedError } from '../../src/index.js';
import { syncVolume } from '../../src/sync.js';
import { btrfs, expectProgressTo, localSide, rejection, twoHosts } from './support.js';

let a: LoopBtrfs;
let b: HostB;
let snapshotsPath: string;
let volumesPath: string;
let replicator: Replicator;
let host: HostName;
// Every snapshot gets a later timestamp than the one before, like the real scheduler's.
const local = localSide(() => ({ volumesPath, snapshotsPath }), new Date(2026, 0, 1, 0, 0, 0));
const { makeVolume, snapshot } = local;
const localMarkers = (volume: string) => local.markers(volume, host);

describe('replication to a real second host', () => {
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'dd', 'ip', 'nsenter']);
    ({ a, b, snapshotsPath, volumesPath, host } = await twoHosts({ aMiB: 900, bMiB: 500 }));
    replicator = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: {
        ...b.ssh,
        connectTimeoutSec: 3,
      },
    });
  });

  afterAll(async () => {
    await replicator?.close();
    await b?.cleanup();
    await a?.cleanup();
  });

  it('sends fully, then incrementally from the marker, then not at all', async () => {
    const volume = await makeVolume('alpha', 20);
    const s1 = await snapshot(volume);
    const progress: Progress[] = [];
    const full = await replicator.send(s1, host, {
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(full).toMatchObject({ snapshot: s1, host, incremental: false, alreadyPresent: false });
    expect(full.parent).toBeUndefined();
    expect(full.bytes).toBeGreaterThan(20 * MiB);
    expectProgressTo(
      progress.map((p) => p.bytes),
      full.bytes,
    );
    expect(await localMarkers(volume)).toEqual([`${s1}@${host}`]);

    await writeRandom(join(volumesPath, volume, 'more'), MiB);
    const s2 = await snapshot(volume);
    const incremental = await replicator.send(s2, host);
    expect(incremental).toMatchObject({ incremental: true, parent: s1, alreadyPresent: false });
    expect(incremental.bytes).toBeGreaterThan(MiB);
    expect(incremental.bytes).toBeLessThan(2 * MiB);

    // On B: both received complete; s2 was built on B's copy of s1.
    const b1 = await b.showSubvolume(join(snapshotsPath, s1));
    const b2 = await b.showSubvolume(join(snapshotsPath, s2));
    const local2 = await btrfs.show(join(snapshotsPath, s2));
    expect(b2?.Flags).toBe('readonly');
    expect(b2?.['Received UUID']).toBe(local2.uuid);
    expect(b2?.['Parent UUID']).toBe(b1?.UUID);
    // Exactly one marker, the newest.
    expect(await localMarkers(volume)).toEqual([`${s2}@${host}`]);
    expect(await btrfs.isReadOnly(join(snapshotsPath, `${s2}@${host}`))).toBe(true);

    const again = await replicator.send(s2, host);
    expect(again).toMatchObject({ alreadyPresent: true, bytes: 0 });
    expect(await localMarkers(volume)).toEqual([`${s2}@${host}`]);
  });

  it('kernel-piped send: progress while it runs, and Bytes is the exact stream size', async () => {
    const volume = await makeVolume('kappa', 48);
    const s1 = await snapshot(volume);
    const progress: Progress[] = [];
    const result = await replicator.send(s1, host, {
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    // The same stream written to a local file: its size is what went to B.
    const dump = join(a.dir, 'kappa.stream');
    try {
      const { execa } = await import('execa');
      const protocol = result.protocol === 2 ? COMPRESSED_SEND_ARGS : [];
      await execa('btrfs', ['send', '-q', ...protocol, '-f', dump, '--', join(snapshotsPath, s1)]);
      const { size } = await import('node:fs/promises').then((fs) => fs.stat(dump));
      expect(result.bytes).toBe(size);
    } finally {
      await rm(dump, { force: true });
    }
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expectProgressTo(
      progress.map((p) => p.bytes),
      result.bytes,
    );
    expect(progress[0]?.bytes).toBeLessThan(result.bytes);
  });

  it('cancelling a kernel-piped send stops all its processes and leaves nothing on B', async () => {
    const volume = await makeVolume('lambda', 80);
    const s1 = await snapshot(volume);
    const controller = new AbortController();
    const error = await rejection(
      replicator.send(s1, host, {
        progressIntervalMs: 0,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    );
    expect(error.code).toBe('TRANSFER_INTERRUPTED');
    // B's receiving session may start after the cancel (its ssh was on the way) and then
    // removes what it received itself: nothing may be left once it is over.
    await untilNoProcessMentions(join(snapshotsPath, s1));
    expect(await b.showSubvolume(join(snapshotsPath, s1))).toBeUndefined();
    expect(await localMarkers(volume)).toEqual([]);
    const { execa } = await import('execa');
    const { stdout } = await execa('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(`send -- ${join(snapshotsPath, s1)}`);
  });

  it('one ssh session per send: the check, a partial clean-up and the receive go together', async () => {
    // A real ssh behind a wrapper that logs each invocation, so sessions can be counted.
    const dir = await mkdtemp(join(tmpdir(), 'bv-sshlog-'));
    const log = join(dir, 'log');
    const wrapper = join(dir, 'ssh');
    await writeFile(
      wrapper,
      [
        '#!/usr/bin/env node',
        "const { appendFileSync } = require('node:fs');",
        "const { spawnSync } = require('node:child_process');",
        `appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n');`,
        "const r = spawnSync('ssh', process.argv.slice(2), { stdio: 'inherit' });",
        'process.exit(r.status ?? 255);',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const sessions = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line !== '' && !line.includes('"-O"')).length;
    const counting = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: {
        ...b.ssh,
        sshPath: wrapper,
      },
    });
    try {
      const volume = await makeVolume('nu', 2);
      const s1 = await snapshot(volume);
      expect(await counting.send(s1, host)).toMatchObject({ alreadyPresent: false });
      // One more, once per host: its btrfs-progs version (can it receive protocol 2?).
      expect(await sessions()).toBe(2);

      // Already there: the same single session says so, and the local send is stopped.
      expect(await counting.send(s1, host)).toMatchObject({ alreadyPresent: true, bytes: 0 });
      expect(await sessions()).toBe(3);
      const { execa } = await import('execa');
      expect((await execa('ps', ['-eo', 'args'])).stdout).not.toContain(
        `send -- ${join(snapshotsPath, s1)}`,
      );

      // A writable leftover at the target (an interrupted receive): deleted, then received.
      await writeRandom(join(volumesPath, volume, 'more'), MiB);
      const s2 = await snapshot(volume);
      await b.exec(['btrfs', 'subvolume', 'create', '--', join(snapshotsPath, s2)]);
      const result = await counting.send(s2, host);
      expect(result).toMatchObject({ incremental: true, parent: s1, alreadyPresent: false });
      expect(await sessions()).toBe(4);
      expect((await b.showSubvolume(join(snapshotsPath, s2)))?.Flags).toBe('readonly');
      expect(await localMarkers(volume)).toEqual([`${s2}@${host}`]);
    } finally {
      await counting.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('compressed sends', () => {
    /** A zstd volume holding `sizeMiB` of text that compresses well (like logs). */
    async function compressedVolume(name: string, sizeMiB: number): Promise<VolumeName> {
      const path = join(volumesPath, name);
      await btrfs.createSubvolume(path);
      await btrfs.setCompression(path, 'zstd');
      const line = 'GET /index.html 200 1534 "Mozilla/5.0 (X11; Linux x86_64)" 0.012\n';
      await writeFile(join(path, 'log'), line.repeat(Math.ceil((sizeMiB * MiB) / line.length)));
      await btrfs.syncFilesystem(path);
      return name as VolumeName;
    }
    const sha = async (argv: string[], onB: boolean) =>
      (onB ? (await b.exec(argv)).stdout : (await execa(argv[0]!, argv.slice(1))).stdout).split(
        ' ',
      )[0];

    it('a compressed volume crosses in protocol 2, at about its size on disk, intact', async () => {
      const volume = await compressedVolume('zstdvol', 16);
      const s1 = await snapshot(volume);
      const result = await replicator.send(s1, host);
      expect(result).toMatchObject({ protocol: 2, alreadyPresent: false, incremental: false });
      expect(result.bytes).toBeLessThan(4 * MiB);
      const file = join(snapshotsPath, s1, 'log');
      expect(await sha(['sha256sum', '--', file], true)).toBe(
        await sha(['sha256sum', '--', file], false),
      );
      // Incremental sends use it too.
      await writeFile(join(volumesPath, volume, 'more'), 'x'.repeat(4 * MiB));
      const s2 = await snapshot(volume);
      const next = await replicator.send(s2, host);
      expect(next).toMatchObject({ protocol: 2, incremental: true, parent: s1 });
      expect(next.bytes).toBeLessThan(MiB);
    });

    it('falls back to version 1 for a host whose btrfs-progs is older, asking it once', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'bv-oldprogs-'));
      const asked = join(dir, 'asked');
      // A stand-in for B's btrfs: it says 5.10 (before protocol 2), and is the real one otherwise.
      const standIn = join(dir, 'btrfs');
      await writeFile(
        standIn,
        [
          '#!/bin/sh',
          `if [ "$1" = --version ]; then echo x >> ${asked}; echo "btrfs-progs v5.10.1"; exit 0; fi`,
          'exec btrfs "$@"',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const old = new Replicator({
        btrfs,
        snapshotsPath,
        volumesPath,
        remoteBtrfsPath: standIn,
        ssh: { ...b.ssh, connectTimeoutSec: 3 },
      });
      const off = new Replicator({
        btrfs,
        snapshotsPath,
        volumesPath,
        ssh: b.ssh,
        compressedSends: false,
      });
      try {
        const volume = await compressedVolume('oldhost', 8);
        const s1 = await snapshot(volume);
        const full = await old.send(s1, host);
        expect(full).toMatchObject({ protocol: 1, alreadyPresent: false });
        expect(full.bytes).toBeGreaterThan(8 * MiB);
        await writeFile(join(volumesPath, volume, 'more'), 'more');
        const s2 = await snapshot(volume);
        expect(await old.send(s2, host)).toMatchObject({ protocol: 1, incremental: true });
        expect((await readFile(asked, 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
        // Turned off: version 1 whatever the ends can do.
        await writeFile(join(volumesPath, volume, 'again'), 'again');
        const s3 = await snapshot(volume);
        expect(await off.send(s3, host)).toMatchObject({ protocol: 1, incremental: true });
      } finally {
        await old.close();
        await off.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it('something other than a subvolume at the target on B: a clear error, left alone, no marker', async () => {
    const volume = await makeVolume('xi', 1);
    const s1 = await snapshot(volume);
    const target = join(snapshotsPath, s1);
    await b.exec(['mkdir', '--', target]);
    await b.exec(['touch', '--', join(target, 'keep-me')]);
    try {
      const error = await rejection(replicator.send(s1, host));
      expect(error.code).toBe('RECEIVE_FAILED');
      expect(error.step).toBe('receive');
      expect(error.host).toBe(host);
      expect(error.message).toContain(`cannot check ${target} on ${host}`);
      expect((await b.exec(['ls', '--', target])).stdout.trim()).toBe('keep-me');
      expect(await localMarkers(volume)).toEqual([]);
    } finally {
      await b.exec(['rm', '-rf', '--', target]);
    }
  });

  it('incremental: false sends the whole snapshot even with a marker', async () => {
    const volume = await makeVolume('mu', 3);
    const s1 = await snapshot(volume);
    await replicator.send(s1, host);
    const s2 = await snapshot(volume);
    const result = await replicator.send(s2, host, { incremental: false });
    expect(result).toMatchObject({ incremental: false, alreadyPresent: false });
    expect(result.parent).toBeUndefined();
    expect(result.bytes).toBeGreaterThan(3 * MiB);
    expect(await localMarkers(volume)).toEqual([`${s2}@${host}`]);
  });

  it('falls back to a full send in the same call when B lost the parent', async () => {
    const volume = await makeVolume('beta', 4);
    const s1 = await snapshot(volume);
    await replicator.send(s1, host);
    await b.exec(['btrfs', 'subvolume', 'delete', '--', join(snapshotsPath, s1)]);
    await writeRandom(join(volumesPath, volume, 'more'), MiB);
    const s2 = await snapshot(volume);

    const result = await replicator.send(s2, host);
    expect(result).toMatchObject({ incremental: false, alreadyPresent: false });
    expect(result.bytes).toBeGreaterThan(5 * MiB);
    expect((await b.showSubvolume(join(snapshotsPath, s2)))?.Flags).toBe('readonly');
    expect(await localMarkers(volume)).toEqual([`${s2}@${host}`]);
  });

  it('stays incremental after older snapshots are purged locally (the marker’s one is kept)', async () => {
    const volume = await makeVolume('epsilon', 8);
    const s1 = await snapshot(volume);
    await replicator.send(s1, host);
    const s2 = await snapshot(volume);
    await replicator.send(s2, host);
    // What purge does: old snapshots go, the snapshot the marker records stays.
    await btrfs.deleteSubvolume(join(snapshotsPath, s1));
    await writeFile(join(volumesPath, volume, 'small'), 'hello!');
    const s3 = await snapshot(volume);
    const result = await replicator.send(s3, host);
    expect(result).toMatchObject({ incremental: true, parent: s2 });
    expect(result.bytes).toBeLessThan(64 * 1024);
  });

  it('cancelling mid-transfer removes the partial subvolume from B at once and writes no marker', async () => {
    const volume = await makeVolume('gamma', 30);
    const s1 = await snapshot(volume);
    const controller = new AbortController();
    const error = await rejection(
      replicator.send(s1, host, {
        bandwidthLimit: 10 * MiB,
        progressIntervalMs: 0,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.bytes > 5 * MiB) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('TRANSFER_INTERRUPTED');
    expect(error.host).toBe(host);
    expect(await b.showSubvolume(join(snapshotsPath, s1))).toBeUndefined();
    expect(await localMarkers(volume)).toEqual([]);
  });

  it('sshd killed mid-transfer: error names B, no marker; the retry cleans up and succeeds', async () => {
    const volume = await makeVolume('delta', 30);
    const s1 = await snapshot(volume);
    let stopping: Promise<void> | undefined;
    try {
      const error = await rejection(
        replicator.send(s1, host, {
          bandwidthLimit: 10 * MiB,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.bytes > 5 * MiB) stopping ??= b.stopSsh();
          },
        }),
      );
      await stopping;
      expect(error.code).toBe('TRANSFER_INTERRUPTED');
      expect(error.host).toBe(host);
      expect(error.step).toBe('connect');
      expect(error.message).toContain(host);
      expect(await localMarkers(volume)).toEqual([]);
      // B was unreachable for the clean-up: whatever the receiving session had not removed yet
      // (it deletes its partial once the stream is cut) is never taken for a complete copy...
      const partial = await b.showSubvolume(join(snapshotsPath, s1));
      expect(partial?.Flags ?? 'gone').not.toBe('readonly');
    } finally {
      await stopping;
      await b.startSsh();
    }
    // ...and the next attempt removes anything left before receiving again.
    const result = await replicator.send(s1, host);
    expect(result).toMatchObject({ incremental: false, alreadyPresent: false });
    expect((await b.showSubvolume(join(snapshotsPath, s1)))?.Flags).toBe('readonly');
    expect(await localMarkers(volume)).toEqual([`${s1}@${host}`]);
  });

  it('B unreachable: a connect error naming the host, nothing written', async () => {
    const volume = await makeVolume('eta', 1);
    const s1 = await snapshot(volume);
    await b.stopSsh();
    try {
      const error = await rejection(replicator.send(s1, host));
      expect(error.code).toBe('SSH_CONNECT_FAILED');
      expect(error.step).toBe('connect');
      expect(error.host).toBe(host);
      expect(error.message).toContain(host);
      expect(error.stderr).toMatch(/Connection refused/);
      expect(await localMarkers(volume)).toEqual([]);
    } finally {
      await b.startSsh();
    }
  });

  it('a key B does not accept: an auth error', async () => {
    const volume = await makeVolume('theta', 1);
    const s1 = await snapshot(volume);
    const keyDir = await mkdtemp(join(tmpdir(), 'bv-key-'));
    try {
      const { execa } = await import('execa');
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'k')]);
      const stranger = new Replicator({
        btrfs,
        snapshotsPath,
        volumesPath,
        ssh: {
          port: b.sshPort,
          identityFile: join(keyDir, 'k'),
          knownHostsFile: b.knownHostsFile,
          strictHostKeyChecking: 'yes',
          configFile: 'none',
        },
      });
      try {
        const error = await rejection(stranger.send(s1, host));
        expect(error.code).toBe('SSH_AUTH_FAILED');
        expect(error.step).toBe('auth');
        expect(error.host).toBe(host);
      } finally {
        await stranger.close();
      }
    } finally {
      await rm(keyDir, { recursive: true, force: true });
    }
  });

  it('B’s disk full: a clear receive error, nothing partial left on B, no marker', async () => {
    const volume = await makeVolume('iota', 60);
    const s1 = await snapshot(volume);
    const filler = await b.fillDisk();
    try {
      const error = await rejection(replicator.send(s1, host));
      expect(error.code).toBe('REMOTE_NO_SPACE');
      expect(error.step).toBe('receive');
      expect(error.host).toBe(host);
      expect(error.stderr).toMatch(/No space left on device/);
      expect(await b.showSubvolume(join(snapshotsPath, s1))).toBeUndefined();
      expect(await localMarkers(volume)).toEqual([]);
    } finally {
      await b.exec(['rm', '-f', '--', filler]);
      await b.exec(['sync']);
    }
  });

  it.each([
    '-oProxyCommand=touch /tmp/bv-hostile',
    '$(touch /tmp/bv-hostile)',
    'a b',
    '`touch /tmp/bv-hostile`',
    'x;touch /tmp/bv-hostile',
  ])('rejects the host %j before running anything', async (raw) => {
    const volume = 'alpha' as VolumeName;
    const s1 = (await btrfs.listSubvolumes(snapshotsPath)).find(
      (n) => n.startsWith(`${volume}@`) && n.split('@').length === 2,
    ) as SnapshotName;
    await rm('/tmp/bv-hostile', { force: true });
    const before = await btrfs.listSubvolumes(snapshotsPath);
    await expect(replicator.send(s1, raw as HostName)).rejects.toBeInstanceOf(InvalidNameError);
    await expect(replicator.sync(volume, [raw])).rejects.toBeInstanceOf(InvalidNameError);
    await expect(
      syncVolume({ volume, hosts: [host, raw], volumesPath, ssh: { port: b.sshPort } }),
    ).rejects.toBeInstanceOf(InvalidNameError);
    expect(existsSync('/tmp/bv-hostile')).toBe(false);
    expect(await btrfs.listSubvolumes(snapshotsPath)).toEqual(before);
  });

  it('syncs a volume from two hosts, one down: the good one syncs, the error names the bad one', async () => {
    const volume = 'zeta' as VolumeName;
    // On B: a volume with two files. Its /tmp is ours, so stage the content there.
    const staging = await mkdtemp(join(tmpdir(), 'bv-stage-'));
    try {
      await writeFile(join(staging, 'from-b.txt'), 'written on B\n');
      await b.exec(['btrfs', 'subvolume', 'create', '--', join(volumesPath, volume)]);
      await b.exec(['cp', '--', join(staging, 'from-b.txt'), join(volumesPath, volume)]);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    await btrfs.createSubvolume(join(volumesPath, volume));
    await writeFile(join(volumesPath, volume, 'stale.txt'), 'only here');

    // A's own end of the veth: a real address with no sshd behind it.
    const down = b.localAddress;
    let error: unknown;
    try {
      await replicator.sync(volume, [down, host], { delete: true, compress: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SyncFailedError);
    const failed = error as SyncFailedError;
    expect(failed.failures.map((f) => f.host)).toEqual([down]);
    expect(failed.failures[0]?.step).toBe('connect');
    expect(failed.message).toContain(down);
    expect(failed.succeeded.map((s) => s.host)).toEqual([host]);
    expect((await readdir(join(volumesPath, volume))).sort()).toEqual(['from-b.txt']);
    expect(await btrfs.isSubvolume(join(volumesPath, volume))).toBe(true);
  });

  it('an aborted sync stops its rsync and rejects with the abort reason', async () => {
    const volume = 'abortme' as VolumeName;
    await b.exec(['btrfs', 'subvolume', 'create', '--', join(volumesPath, volume)]);
    await b.exec([
      'dd',
      'if=/dev/urandom',
      `of=${join(volumesPath, volume, 'big')}`,
      'bs=1M',
      'count=150',
    ]);
    await btrfs.createSubvolume(join(volumesPath, volume));

    const before = new AbortController();
    before.abort(new Error('stopped before it started'));
    await expect(replicator.sync(volume, [host], { signal: before.signal })).rejects.toThrow(
      'stopped before it started',
    );
    expect(await readdir(join(volumesPath, volume))).toEqual([]);

    const during = new AbortController();
    const started = performance.now();
    const sync = replicator.sync(volume, [host], { signal: during.signal });
    setTimeout(() => during.abort(new Error('job timeout')), 100);
    await expect(sync).rejects.toThrow('job timeout');
    expect(performance.now() - started).toBeLessThan(5_000);
    const rsyncs = await execa('pgrep', ['-f', `rsync.*${volume}/`], { reject: false });
    expect(rsyncs.stdout).toBe('');
  });

  it('refuses to sync a volume that does not exist here, and creates nothing', async () => {
    const error = await rejection(replicator.sync('nosuch', [host]));
    expect(error.code).toBe('NO_SUCH_VOLUME');
    expect(existsSync(join(volumesPath, 'nosuch'))).toBe(false);
  });
});
