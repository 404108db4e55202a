import { join } from 'node:path';
import {
  type HostName,
  InvalidNameError,
  SnapshotName,
  type VolumeName,
} from '@buttervolume/names';
import { parsePolicy } from '@buttervolume/retention';
import {
  type HostB,
  type LoopBtrfs,
  MiB,
  requireRealEnvironment,
  writeRandom,
} from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replicator } from '../../src/index.js';
import { btrfs, localSide, rejection, twoHosts } from './support.js';

let a: LoopBtrfs;
let b: HostB;
let snapshotsPath: string;
let volumesPath: string;
let replicator: Replicator;
let host: HostName;
const start = new Date(2026, 0, 1, 0, 0, 0);
const local = localSide(() => ({ volumesPath, snapshotsPath }), start);
// A day after the snapshots: a `1h` pattern keeps only what the rules protect.
const later = new Date(start.getTime() + 86_400_000);
const oneHour = parsePolicy('1h');

/** B's entries in its snapshots folder, sorted. */
async function onB(): Promise<string[]> {
  const { stdout } = await b.exec(['ls', '-1', '--', snapshotsPath]);
  return stdout.split('\n').filter(Boolean).sort();
}

describe("retention on the receiving host's copies (real host B)", () => {
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'dd', 'ip', 'nsenter', 'xargs']);
    ({ a, b, snapshotsPath, volumesPath, host } = await twoHosts({ aMiB: 300, bMiB: 300 }));
    replicator = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: { ...b.ssh, connectTimeoutSec: 3 },
    });
  });

  afterAll(async () => {
    await replicator?.close();
    await b?.cleanup();
    await a?.cleanup();
  });

  let volume: VolumeName;
  const sent: SnapshotName[] = [];

  it('deletes what the policy does not keep, spares the next send’s parent, and the next send is incremental', async () => {
    volume = await local.makeVolume('rp', 1);
    for (let i = 0; i < 5; i++) {
      await writeRandom(join(volumesPath, volume, `f${i}`), 64 * 1024);
      const s = await local.snapshot(volume);
      await replicator.send(s, host);
      sent.push(s);
    }
    // B also holds a newer copy from elsewhere (so the parent is not simply the newest), a send
    // marker of its own (whose snapshot is B's next parent), and another volume's copy.
    const elsewhere = SnapshotName.of(volume, new Date(start.getTime() + 3_600_000));
    const bMarker = `${sent[1]}@10.9.9.9`;
    const other = SnapshotName.of('rpx' as VolumeName, start);
    for (const name of [elsewhere, bMarker, other]) {
      await b.exec(['btrfs', 'subvolume', 'create', '--', join(snapshotsPath, name)]);
    }
    const before = await onB();

    const preview = await replicator.purgeRemote(volume, host, oneHour, {
      dryRun: true,
      now: later,
    });
    const doomed = [sent[0], sent[2], sent[3]];
    expect(preview.purged).toEqual(doomed);
    const reasons = new Map(preview.decisions.map((d) => [d.name, d.reason]));
    expect(reasons.get(sent[4]!)).toBe(`kept: parent of the next incremental send to ${host}`);
    expect(reasons.get(elsewhere)).toMatch(/^kept: the newest/);
    expect(reasons.get(bMarker)).toMatch(/^kept/);
    expect(reasons.get(sent[1]!)).toBe('kept: parent of the next incremental send to 10.9.9.9');
    expect(reasons.get(sent[0]!)).toMatch(/^purged/);
    expect(reasons.has(other)).toBe(false);
    expect(await onB()).toEqual(before);

    const done = await replicator.purgeRemote(volume, host, oneHour, { now: later });
    expect(done.purged).toEqual(doomed);
    expect(await onB()).toEqual([sent[1]!, sent[4]!, bMarker, elsewhere, other].sort());

    await writeRandom(join(volumesPath, volume, 'after'), 64 * 1024);
    const next = await local.snapshot(volume);
    const result = await replicator.send(next, host);
    expect(result).toMatchObject({ incremental: true, parent: sent[4] });
    sent.push(next);
  });

  it('runs a purge racing a send of the same volume after it, in either order', async () => {
    await writeRandom(join(volumesPath, volume, 'race'), 8 * MiB);
    const first = await local.snapshot(volume);
    // Send first: the purge, queued behind it, sees the new copy and keeps it as the parent.
    const [send, purge] = await Promise.all([
      replicator.send(first, host),
      replicator.purgeRemote(volume, host, oneHour, { now: later }),
    ]);
    expect(send).toMatchObject({ incremental: true, parent: sent.at(-1) });
    expect(purge.decisions.find((d) => d.name === first)?.reason).toBe(
      `kept: parent of the next incremental send to ${host}`,
    );
    expect(purge.purged).toContain(sent.at(-1));
    // Purge first: it keeps the parent the send then starts from.
    await writeRandom(join(volumesPath, volume, 'race2'), 8 * MiB);
    const second = await local.snapshot(volume);
    const [purge2, send2] = await Promise.all([
      replicator.purgeRemote(volume, host, oneHour, { now: later }),
      replicator.send(second, host),
    ]);
    expect(purge2.purged).not.toContain(first);
    expect(send2).toMatchObject({ incremental: true, parent: first });
    expect((await b.showSubvolume(join(snapshotsPath, second)))?.Flags).toBe('readonly');
  });

  it('refuses hostile names and an unreachable host, and changes nothing on either side', async () => {
    const before = await onB();
    const localBefore = await btrfs.listSubvolumes(snapshotsPath);
    for (const name of ['../x', 'a/b', '-rf', '$(touch /tmp/p)', "it's", 'x'.repeat(300), '']) {
      await expect(
        replicator.purgeRemote(name as VolumeName, host, oneHour, { now: later }),
      ).rejects.toBeInstanceOf(InvalidNameError);
    }
    for (const name of ['-oProxyCommand=x', 'user@host', '$(touch /tmp/p)', '']) {
      await expect(
        replicator.purgeRemote(volume, name as HostName, oneHour, { now: later }),
      ).rejects.toBeInstanceOf(InvalidNameError);
    }
    const refused = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: { ...b.ssh, port: 1, connectTimeoutSec: 3, controlPersistSec: 0 },
    });
    const error = await rejection(refused.purgeRemote(volume, host, oneHour, { now: later }));
    expect(error.code).toBe('SSH_CONNECT_FAILED');
    expect(await onB()).toEqual(before);
    expect(await btrfs.listSubvolumes(snapshotsPath)).toEqual(localBefore);
  });
});
