import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostName, InvalidNameError } from '@buttervolume/names';
import { type HostB, type LoopBtrfs, MiB, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replicator, type SshOptions, SyncFailedError } from '../../src/index.js';
import { btrfs, localSide, rejection, twoHosts } from './support.js';

// A peer that misbehaves: each case ends with a clear error, nothing half-done on either host,
// nothing lost, and the next normal operation succeeding.

let a: LoopBtrfs;
let b: HostB;
let dir: string;
let snapshotsPath: string;
let volumesPath: string;
let host: HostName;
const local = localSide(() => ({ volumesPath, snapshotsPath }), new Date(2026, 1, 1, 0, 0, 0));
const { makeVolume, snapshot } = local;
const markers = (volume: string) => local.markers(volume, host);
const replicators: Replicator[] = [];

function replicator(ssh: Partial<SshOptions> = {}): Replicator {
  const r = new Replicator({
    btrfs,
    snapshotsPath,
    volumesPath,
    // No shared connection: B's authorized_keys changes between cases must take effect.
    ssh: { ...b.ssh, connectTimeoutSec: 2, controlPersistSec: 0, ...ssh },
  });
  replicators.push(r);
  return r;
}

async function onB(name: string): Promise<string | undefined> {
  return (await b.showSubvolume(join(snapshotsPath, name)))?.Flags;
}

/** No process of ours is still sending `snapshot` or talking to B. */
async function noneLeft(snapshot: string): Promise<void> {
  const { stdout } = await execa('ps', ['-eo', 'args']);
  expect(stdout).not.toContain(`send -- ${join(snapshotsPath, snapshot)}`);
  expect(stdout.split('\n').filter((l) => l.startsWith('ssh ') && l.includes(b.address))).toEqual(
    [],
  );
}

/** An executable node script in our temp dir (B sees the same /tmp). */
async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!${process.execPath}\n${body}\n`, { mode: 0o755 });
  return path;
}

describe('a misbehaving peer (real host B)', () => {
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'dd', 'ip', 'nsenter']);
    dir = await mkdtemp(join(tmpdir(), 'bv-faults-r-'));
    ({ a, b, snapshotsPath, volumesPath, host } = await twoHosts({ aMiB: 600, bMiB: 400 }));
  });

  afterAll(async () => {
    await Promise.all(replicators.map((r) => r.close()));
    await b?.cleanup();
    await a?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a connect failure while re-sending a snapshot B holds does not delete B’s copy', async () => {
    const volume = await makeVolume('keep', 2);
    const s1 = await snapshot(volume);
    expect(await replicator().send(s1, host)).toMatchObject({ alreadyPresent: false });
    await btrfs.deleteSubvolume(join(snapshotsPath, `${s1}@${host}`)); // as if the marker was lost

    // A real ssh whose first connection goes to an address that refuses (a transient failure);
    // later ones (the clean-up 3.x-style code would run) reach B.
    const count = join(dir, 'count');
    const flaky = await script(
      'flaky-ssh',
      [
        "const fs = require('node:fs');",
        "const { spawnSync } = require('node:child_process');",
        `const n = Number(fs.readFileSync(${JSON.stringify(count)}, { encoding: 'utf8', flag: 'a+' }) || 0);`,
        `fs.writeFileSync(${JSON.stringify(count)}, String(n + 1));`,
        'const args = process.argv.slice(2);',
        `if (n === 0) args[args.indexOf('--') + 1] = ${JSON.stringify(b.localAddress)};`,
        "const r = spawnSync('ssh', args, { stdio: 'inherit' });",
        'process.exit(r.status ?? 255);',
      ].join('\n'),
    );
    const error = await rejection(replicator({ sshPath: flaky }).send(s1, host));
    expect(error.code).toBe('SSH_CONNECT_FAILED');
    expect(await onB(s1)).toBe('readonly');
    // The retry finds it there and only writes the marker back.
    expect(await replicator().send(s1, host)).toMatchObject({ alreadyPresent: true, bytes: 0 });
    expect(await markers(volume)).toEqual([`${s1}@${host}`]);
  });

  it('a marker name too long for the file system is refused before anything is sent', async () => {
    const volume = await makeVolume(`long${'x'.repeat(200)}`, 1);
    const s1 = await snapshot(volume);
    // 63-character labels: a valid host name, but marker = snapshot + "@" + host > 255.
    const longHost = `${'h'.repeat(63)}.example` as HostName;
    const log = join(dir, 'never-called');
    const spy = await script(
      'spy-ssh',
      `require('node:fs').appendFileSync(${JSON.stringify(log)}, 'x'); process.exit(255);`,
    );
    await expect(replicator({ sshPath: spy }).send(s1, longHost)).rejects.toBeInstanceOf(
      InvalidNameError,
    );
    await expect(readFile(log, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a send waiting behind another of the same volume leaves the queue when aborted', async () => {
    const volume = await makeVolume('queued', 12);
    const s1 = await snapshot(volume);
    const s2 = await snapshot(volume);
    const r = replicator();
    const order: string[] = [];
    const first = r.send(s1, host, { bandwidthLimit: 4 * MiB }).then(() => order.push('first'));
    const controller = new AbortController();
    const second = r.send(s2, host, { signal: controller.signal }).then(
      () => order.push('second sent'),
      (error: unknown) => {
        order.push('second aborted');
        return error;
      },
    );
    setTimeout(() => controller.abort(new Error('job timeout')), 200);
    expect(await second).toMatchObject({ message: 'job timeout' });
    await first;
    expect(order).toEqual(['second aborted', 'first']);
    expect(await onB(s2)).toBeUndefined();
    expect(await replicator().send(s2, host)).toMatchObject({ incremental: true, parent: s1 });
  });

  it('10 MB of "Load key " on B’s stderr: a short auth error, the tail kept, nothing left', async () => {
    const garbage = await script(
      'garbage',
      [
        "const chunk = Buffer.from('Load key '.repeat(7000));",
        'let left = 160;',
        'const next = () => {',
        '  while (left-- > 0) if (!process.stderr.write(chunk)) return process.stderr.once("drain", next);',
        '  process.exitCode = 255;',
        '};',
        'next();',
      ].join('\n'),
    );
    const volume = await makeVolume('noisy', 2);
    await b.exec(['btrfs', 'subvolume', 'create', '--', join(volumesPath, volume)]);
    const s1 = await snapshot(volume);
    await b.forceCommand(garbage);
    try {
      for (const options of [{}, { bandwidthLimit: 50 * MiB }]) {
        const error = await rejection(replicator().send(s1, host, options));
        expect(error.code).toBe('SSH_AUTH_FAILED');
        expect(error.message.length).toBeLessThan(2000);
        expect(error.stderr.length).toBeLessThanOrEqual(64 * 1024);
        expect(error.stderr).toContain('Load key');
      }
      const sync = await replicator()
        .sync(volume, [host])
        .catch((e: unknown) => e);
      expect(sync).toBeInstanceOf(SyncFailedError);
      expect((sync as SyncFailedError).message.length).toBeLessThan(2500);
      expect(await onB(s1)).toBeUndefined();
      expect(await markers(volume)).toEqual([]);
    } finally {
      await b.forceCommand(undefined);
    }
    await noneLeft(s1);
    expect(await replicator().send(s1, host)).toMatchObject({ alreadyPresent: false });
  });

  it('a receive that never ends is stopped by the stall timeout; nothing left; next send works', async () => {
    // Accepts the session and never reads or exits.
    const stuck = await script('stuck', 'setInterval(() => {}, 1 << 30);');
    const volume = await makeVolume('stuck', 3);
    const s1 = await snapshot(volume);
    await b.forceCommand(stuck);
    try {
      for (const options of [{}, { bandwidthLimit: 50 * MiB }]) {
        const error = await rejection(
          replicator({ stallTimeoutSec: 2, commandTimeoutSec: 3 }).send(s1, host, options),
        );
        expect(error.code).toBe('TRANSFER_TIMEOUT');
        expect(error.message).toMatch(/nothing moved .* for 2 s/);
        await noneLeft(s1);
      }
    } finally {
      await b.forceCommand(undefined);
    }
    expect(await onB(s1)).toBeUndefined();
    expect(await replicator().send(s1, host)).toMatchObject({ alreadyPresent: false });
    expect(await onB(s1)).toBe('readonly');
  });

  it('B blackholed: a connect error at once, and mid-transfer a timeout; the retry completes', async () => {
    const volume = await makeVolume('hole', 24);
    const s1 = await snapshot(volume);
    const quick = { stallTimeoutSec: 2, commandTimeoutSec: 3, connectTimeoutSec: 2 };
    await b.blackhole(true);
    try {
      const error = await rejection(replicator(quick).send(s1, host));
      expect(error.code).toBe('SSH_CONNECT_FAILED');
      expect(error.message).toContain(host);
    } finally {
      await b.blackhole(false);
    }

    let holed: Promise<void> | undefined;
    try {
      const error = await rejection(
        replicator(quick).send(s1, host, {
          bandwidthLimit: 8 * MiB,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.bytes > 4 * MiB) holed ??= b.blackhole(true);
          },
        }),
      );
      expect(['TRANSFER_TIMEOUT', 'TRANSFER_INTERRUPTED']).toContain(error.code);
      expect(await markers(volume)).toEqual([]);
      await noneLeft(s1);
    } finally {
      await holed;
      await b.blackhole(false);
    }
    // The clean-up could not reach B; the next send removes the partial copy, then receives.
    expect(await replicator().send(s1, host)).toMatchObject({ alreadyPresent: false });
    expect(await onB(s1)).toBe('readonly');
    expect(await markers(volume)).toEqual([`${s1}@${host}`]);
  });

  it('a clean-up held up by a lost link never reaches B late to delete a complete copy', async () => {
    const volume = await makeVolume('late', 24);
    const s1 = await snapshot(volume);
    const target = join(snapshotsPath, s1);
    // A shared connection: what is queued on it reaches B when the link comes back.
    const shared = replicator({
      stallTimeoutSec: 2,
      commandTimeoutSec: 3,
      connectTimeoutSec: 2,
      controlPersistSec: 60,
    });
    let holed: Promise<void> | undefined;
    try {
      const error = await rejection(
        shared.send(s1, host, {
          bandwidthLimit: 8 * MiB,
          progressIntervalMs: 0,
          onProgress: (p) => {
            if (p.bytes > 4 * MiB) holed ??= b.blackhole(true);
          },
        }),
      );
      expect(error.code).toBe('TRANSFER_TIMEOUT');
      // Meanwhile another send finished the snapshot on B: a complete (read-only) copy.
      await b.exec(['btrfs', 'subvolume', 'delete', '--', target], { reject: false });
      await b.exec(['btrfs', 'subvolume', 'create', '--', target]);
      await b.exec(['btrfs', 'property', 'set', '-ts', '--', target, 'ro', 'true']);
    } finally {
      await holed;
      await b.blackhole(false);
    }
    // The link is back: whatever was queued on it arrives now. The copy stays.
    for (let i = 0; i < 50; i++) {
      expect(await onB(s1)).toBe('readonly');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await b.exec(['btrfs', 'property', 'set', '-ts', '--', target, 'ro', 'false']);
    await b.exec(['btrfs', 'subvolume', 'delete', '--', target]);
    expect(await shared.send(s1, host)).toMatchObject({ alreadyPresent: false });
    expect(await onB(s1)).toBe('readonly');
    expect(await markers(volume)).toEqual([`${s1}@${host}`]);
  });
});
