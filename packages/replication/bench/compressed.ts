// Bytes on the wire and time of a send to host B (own netns, veth, sshd) of 1 GiB of
// compressible data in a compression=zstd volume: protocol 2 with --compressed-data (what
// Replicator.send uses when both ends support it) against the version 1 stream
// (compressedSends: false). "Bytes" is what B's receiving session counted, before ssh's own
// compression (off here). Medians of BENCH_RUNS runs (default 3); BENCH_DATA_MIB (default
// 1024). Needs root, btrfs, sshd: `pnpm --filter @buttervolume/replication bench:compressed`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { type HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import {
  createHostB,
  createLoopBtrfs,
  MiB,
  median,
  requireRealEnvironment,
  writeCompressible,
} from '@buttervolume/test-utils';
import { Replicator } from '../src/index.js';

const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 1024);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const btrfs = new Btrfs();

requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'dd', 'ip', 'nsenter']);
const a = await createLoopBtrfs({ sizeMiB: 2048 });
const b = await createHostB({ paths: [a.mountPoint], sizeMiB: DATA_MIB + 1024 });
try {
  const snapshotsPath = join(a.mountPoint, 'snapshots');
  const volumesPath = join(a.mountPoint, 'volumes');
  await mkdir(snapshotsPath);
  await mkdir(volumesPath);
  await b.exec(['mkdir', '--', snapshotsPath, volumesPath]);
  const volume = 'zstd' as VolumeName;
  await btrfs.createSubvolume(join(volumesPath, volume));
  await btrfs.setCompression(join(volumesPath, volume), 'zstd');
  await writeCompressible(join(volumesPath, volume, 'data'), DATA_MIB * MiB);
  await btrfs.syncFilesystem(volumesPath);
  const snapshot = SnapshotName.of(volume, new Date(2026, 0, 1));
  await btrfs.snapshot(join(volumesPath, volume), join(snapshotsPath, snapshot), {
    readonly: true,
  });
  const host = b.address as HostName;
  const remote = join(snapshotsPath, snapshot);
  const marker = join(snapshotsPath, `${snapshot}@${host}`);
  console.log(`${DATA_MIB} MiB of compressible text in a compression=zstd volume, sent to host B`);
  for (const [label, compressedSends] of [
    ['protocol 2 --compressed-data', true],
    ['version 1 stream', false],
  ] as const) {
    const replicator = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: b.ssh,
      compressedSends,
    });
    try {
      const runs: { bytes: number; ms: number; protocol: number }[] = [];
      for (let i = 0; i < RUNS; i++) {
        const result = await replicator.send(snapshot, host, { incremental: false });
        runs.push({ bytes: result.bytes, ms: result.durationMs, protocol: result.protocol });
        await b.exec(['btrfs', 'subvolume', 'delete', '--', remote]);
        await btrfs.deleteSubvolume(marker);
      }
      console.log(
        `${label} (protocol ${runs[0]!.protocol}): ${runs[0]!.bytes} bytes on the wire (${(runs[0]!.bytes / (DATA_MIB * MiB)).toFixed(3)} of the data), median ${median(runs.map((r) => r.ms)).toFixed(0)} ms over ${RUNS} runs`,
      );
    } finally {
      await replicator.close();
    }
  }
} finally {
  await b.cleanup();
  await a.cleanup();
}
