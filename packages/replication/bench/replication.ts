// Replication throughput: btrfs send | ssh | btrfs receive to host B (own netns, veth, sshd)
// next to a local btrfs send | btrfs receive of the same snapshots, and the bytes a tiny
// change costs on the wire. Needs root, btrfs, sshd: `pnpm --filter @buttervolume/replication bench`.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { type HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import { createHostB, createLoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { Replicator } from '../src/index.js';
import { ddBytes, startPipeline } from '../src/pipe.js';

const MiB = 1024 * 1024;
const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 200);
const btrfs = new Btrfs();
let clock = new Date(2026, 0, 1).getTime();

async function writeRandom(path: string, bytes: number): Promise<void> {
  for (let written = 0; written < bytes; written += 4 * MiB) {
    await appendFile(path, randomBytes(Math.min(4 * MiB, bytes - written)));
  }
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function fmt(n: number): string {
  return n.toFixed(1).padStart(7);
}

/**
 * The reference: `btrfs send | btrfs receive` on this host, the kernel piping one into the
 * other as a shell would (the fastest a local copy of the same stream can go).
 */
async function localSendReceive(snapshot: string, parent: string | undefined, into: string) {
  const started = performance.now();
  const running = startPipeline(
    [
      { command: 'btrfs', args: ['send', ...(parent ? ['-p', parent] : []), '--', snapshot] },
      { command: 'dd', args: ['bs=1M'] },
      { command: 'btrfs', args: ['receive', '--', into] },
    ],
    process.env,
  );
  const [sent, counted, received] = await Promise.all(running.exits);
  const ms = performance.now() - started;
  if (sent?.code !== 0 || received?.code !== 0) {
    throw new Error(`local send|receive failed: ${sent?.stderr} ${received?.stderr}`);
  }
  return { bytes: ddBytes(counted?.stderr ?? '') ?? 0, ms };
}

async function main(): Promise<void> {
  requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'dd', 'ip', 'nsenter']);
  const sizeMiB = Math.max(1024, DATA_MIB * 4);
  const a = await createLoopBtrfs({ sizeMiB });
  const b = await createHostB({ paths: [a.mountPoint], sizeMiB });
  let replicatorClose: (() => Promise<void>) | undefined;
  try {
    const snapshotsPath = join(a.mountPoint, 'snapshots');
    const volumesPath = join(a.mountPoint, 'volumes');
    const localReceive = join(a.mountPoint, 'local-receive');
    for (const dir of [snapshotsPath, volumesPath, localReceive]) await mkdir(dir);
    await b.exec(['mkdir', '--', snapshotsPath, volumesPath]);
    const host = b.address as HostName;
    const replicator = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: {
        port: b.sshPort,
        identityFile: b.identityFile,
        knownHostsFile: b.knownHostsFile,
        strictHostKeyChecking: 'yes',
        configFile: 'none',
      },
    });
    replicatorClose = () => replicator.close();
    const volume = 'bench' as VolumeName;
    const volumePath = join(volumesPath, volume);
    const snap = async (): Promise<SnapshotName> => {
      clock += 60_000;
      const name = SnapshotName.of(volume, new Date(clock));
      await btrfs.snapshot(volumePath, join(snapshotsPath, name), { readonly: true });
      await btrfs.syncFilesystem(a.mountPoint);
      return name;
    };

    await btrfs.createSubvolume(volumePath);
    await writeRandom(join(volumePath, 'data'), DATA_MIB * MiB);
    const s1 = await snap();

    console.log(`replication bench: ${DATA_MIB} MiB of random data, host B over a veth + sshd`);
    console.log(
      `${'case'.padEnd(34)} ${'bytes'.padStart(12)} ${'ms'.padStart(8)} ${'MB/s'.padStart(7)}`,
    );
    const row = (name: string, bytes: number, ms: number) =>
      console.log(
        `${name.padEnd(34)} ${String(bytes).padStart(12)} ${fmt(ms)} ${fmt(mbps(bytes, ms))}`,
      );

    const localFull = await localSendReceive(join(snapshotsPath, s1), undefined, localReceive);
    row('full, local send|receive', localFull.bytes, localFull.ms);
    const full = await replicator.send(s1, host);
    row('full, to B over ssh', full.bytes, full.durationMs);

    const extraMiB = Math.max(1, Math.round(DATA_MIB / 4));
    await writeRandom(join(volumePath, 'more'), extraMiB * MiB);
    const s2 = await snap();
    const localInc = await localSendReceive(
      join(snapshotsPath, s2),
      join(snapshotsPath, s1),
      localReceive,
    );
    row(`incremental +${extraMiB} MiB, local`, localInc.bytes, localInc.ms);
    const inc = await replicator.send(s2, host);
    if (!inc.incremental) throw new Error('expected an incremental send');
    row(`incremental +${extraMiB} MiB, to B`, inc.bytes, inc.durationMs);

    // Six bytes changed in the middle of the big file.
    const handle = await open(join(volumePath, 'data'), 'r+');
    await handle.write(Buffer.from('CHANGE'), 0, 6, Math.floor((DATA_MIB * MiB) / 2));
    await handle.close();
    const s3 = await snap();
    const tiny = await replicator.send(s3, host);
    row('6-byte change, to B', tiny.bytes, tiny.durationMs);

    // Rate limiting: a fresh full send of s3 to B under a limit.
    await b.exec(['btrfs', 'subvolume', 'delete', '--', join(snapshotsPath, s3)]);
    for (const marker of await btrfs.listSubvolumes(snapshotsPath)) {
      if (marker.endsWith(`@${host}`)) await btrfs.deleteSubvolume(join(snapshotsPath, marker));
    }
    const limit = 50 * MiB;
    const limited = await replicator.send(s3, host, { bandwidthLimit: limit, compress: false });
    row('full, to B, limit 52.4 MB/s', limited.bytes, limited.durationMs);

    console.log('');
    console.log(
      `ratio full ssh/local: ${(mbps(full.bytes, full.durationMs) / mbps(localFull.bytes, localFull.ms)).toFixed(2)}`,
    );
    console.log(
      `ratio incremental ssh/local: ${(mbps(inc.bytes, inc.durationMs) / mbps(localInc.bytes, localInc.ms)).toFixed(2)}`,
    );
    console.log(
      `bytes on the wire for a 6-byte change in ${DATA_MIB + extraMiB} MiB: ${tiny.bytes}`,
    );
    console.log(
      `rate-limited send: ${fmt(mbps(limited.bytes, limited.durationMs))} MB/s for a limit of ${(limit / 1e6).toFixed(1)} MB/s`,
    );
  } finally {
    await replicatorClose?.();
    await b.cleanup();
    await a.cleanup();
  }
}

await main();
