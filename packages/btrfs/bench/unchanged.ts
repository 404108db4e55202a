// The skip-unchanged check (Btrfs.unchangedSince: `subvolume find-new`, which syncs and reads
// the volume's generation, the subvolume ids, the snapshot's read-only flag) on a 10 GiB volume, with nothing changed and with one byte changed since its snapshot, alone and
// among 2,000 more snapshots. Goal: under 20 ms, the same for any volume size or snapshot count
// (it reads transaction numbers, never the data). The first look at a snapshot also runs
// `subvolume show`, which walks every subvolume: printed apart. Needs root and btrfs.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLoopBtrfs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { Btrfs } from '../src/index.js';

const RUNS = 25;
const OTHER_SNAPSHOTS = 2000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function volumeOf(fsRoot: string, name: string, bytes: string): Promise<[string, string]> {
  const btrfs = new Btrfs();
  const volume = join(fsRoot, name);
  await btrfs.createSubvolume(volume);
  // Allocated extents, no data written: the check must not care what the bytes are.
  await execa('fallocate', ['-l', bytes, '--', join(volume, 'data')]);
  const snapshot = `${volume}@s`;
  await btrfs.syncFilesystem(volume);
  await btrfs.snapshot(volume, snapshot, { readonly: true });
  return [volume, snapshot];
}

async function measure(
  volume: string,
  snapshot: string,
  change: boolean,
): Promise<{ median: number; first: number; cpuMs: number }> {
  const btrfs = new Btrfs();
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) {
    if (change) {
      const handle = await open(join(volume, 'data'), 'r+');
      await handle.write(Buffer.from([i & 0xff]), 0, 1, 4096 * i);
      await handle.close();
    }
    const start = performance.now();
    const check = await btrfs.unchangedSince(volume, snapshot);
    times.push(performance.now() - start);
    if (check.unchanged === change) throw new Error(`wrong answer: ${JSON.stringify(check)}`);
  }
  const used = process.cpuUsage(cpu);
  return {
    median: median(times.slice(1)),
    first: times[0]!,
    cpuMs: (used.user + used.system) / 1000 / RUNS,
  };
}

const fs = await createLoopBtrfs({ sizeMiB: 12 * 1024 });
try {
  let round = 0;
  const report = async (label: string, volume: string, first: string) => {
    // A fresh snapshot: an earlier round's changes are not in the first one.
    const snapshot = round++ === 0 ? first : `${volume}@round${round}`;
    if (snapshot !== first) await new Btrfs().snapshot(volume, snapshot, { readonly: true });
    const none = await measure(volume, snapshot, false);
    const one = await measure(volume, snapshot, true);
    console.log(
      `unchanged check, ${label}: nothing changed median ${none.median.toFixed(1)} ms, one byte changed median ${one.median.toFixed(1)} ms (${RUNS} runs each; goal < 20 ms); first look at the snapshot ${none.first.toFixed(1)} ms; this process's CPU ${none.cpuMs.toFixed(1)} ms per check (the btrfs commands run in the spawner) (load ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]})`,
    );
  };
  const [small, smallSnapshot] = await volumeOf(fs.mountPoint, 'small', '1M');
  await report('1 MiB volume', small, smallSnapshot);
  const [large, largeSnapshot] = await volumeOf(fs.mountPoint, 'large', '10G');
  await report('10 GiB volume', large, largeSnapshot);
  // `subvolume show` walks the filesystem's subvolumes: the same check among many snapshots.
  const btrfs = new Btrfs();
  for (let i = 0; i < OTHER_SNAPSHOTS; i++) {
    await btrfs.snapshot(small, `${small}@${i}`, { readonly: true });
  }
  await report(
    `10 GiB volume, ${OTHER_SNAPSHOTS} more snapshots on the filesystem`,
    large,
    largeSnapshot,
  );
} finally {
  await fs.cleanup();
}
