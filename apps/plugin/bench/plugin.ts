// Latency of the daemon's hot paths on a real loop-mounted btrfs:
//   pnpm --filter @buttervolume/plugin bench
// Goals: List at 10,000 volumes < 50 ms, Get/Path/Mount < 2 ms (median), Create independent
// of the volume count, Snapshot within 1.3x of a bare `btrfs subvolume snapshot`.
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatTimestamp } from '@buttervolume/retention';
import { createLoopBtrfs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { silentLogger, startDaemon } from '../src/index.js';
import { configFor, inParallel, overSocket } from '../test/integration/helpers.js';

const COUNTS = [10, 1_000, 10_000];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

async function main(): Promise<void> {
  const fs = await createLoopBtrfs({ sizeMiB: 4096 });
  let close: (() => Promise<void>) | undefined;
  try {
    const volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.dir, 'run');
    for (const dir of [volumesPath, snapshotsPath, runPath]) await mkdir(dir);
    const config = configFor(volumesPath, snapshotsPath, runPath);
    const daemon = await startDaemon(config, { logger: silentLogger });
    close = () => daemon.close();
    const viaSocket = overSocket(daemon.socketPath);
    const inProcess = async (path: string, body?: unknown) => {
      const res = await daemon.app.request(path, {
        method: 'POST',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as { Err?: string };
      if (json.Err) throw new Error(`${path}: ${json.Err}`);
      return json;
    };

    let existing = 0;
    for (const count of COUNTS) {
      // Bulk-create straight with btrfs-progs, 16 processes at a time.
      const names = Array.from(
        { length: count - existing },
        (_, i) => `bench${String(existing + i).padStart(6, '0')}`,
      );
      await inParallel(names, 16, (n) =>
        execa('btrfs', ['subvolume', 'create', '--', join(volumesPath, n)]),
      );
      existing = count;
      const sample = Array.from(
        { length: 200 },
        (_, i) => `bench${String(Math.floor((i * count) / 200)).padStart(6, '0')}`,
      );

      // Cold: the folder changed since the last listing (a stray folder made and removed), and
      // is older than the racy window, as after any Create/Remove.
      const coldSamples: number[] = [];
      for (let i = 0; i < 5; i++) {
        await mkdir(join(volumesPath, '.bench-touch'));
        await rmdir(join(volumesPath, '.bench-touch'));
        await sleep(60);
        const started = performance.now();
        await inProcess('/VolumeDriver.List');
        coldSamples.push(performance.now() - started);
      }
      const cold = median(coldSamples);
      const listWarm = await time(() => inProcess('/VolumeDriver.List'), 30);
      const listSocket = await time(() => viaSocket('/VolumeDriver.List', ''), 30);
      console.log(
        `list volumes=${count} cold(in-process)=${ms(cold)} warm(in-process)=${ms(listWarm)} warm(socket)=${ms(listSocket)}`,
      );

      let k = 0;
      const getCold = await time(
        () => inProcess('/VolumeDriver.Get', { Name: sample[k++ % sample.length] }),
        sample.length,
      );
      // Volumes Get was never asked about, warmed in the background as after a start.
      const unasked = sample
        .map((_, i) => `bench${String(Math.floor((i * count) / 200) + 1).padStart(6, '0')}`)
        .filter((name) => !sample.includes(name) && Number(name.slice(5)) < count);
      const warmStarted = performance.now();
      const warmedCount = await daemon.services.status.warm();
      const warmMs = performance.now() - warmStarted;
      let u = 0;
      // At 10 volumes the sample is every volume: none is left unasked.
      const getWarmed =
        unasked.length === 0
          ? Number.NaN
          : await time(
              () => inProcess('/VolumeDriver.Get', { Name: unasked[u++ % unasked.length] }),
              unasked.length,
            );

      const getWarm = await time(
        () => inProcess('/VolumeDriver.Get', { Name: sample[k++ % sample.length] }),
        400,
      );
      const getSocket = await time(
        () => viaSocket('/VolumeDriver.Get', { Name: sample[k++ % sample.length] }),
        400,
      );
      const path = await time(
        () => inProcess('/VolumeDriver.Path', { Name: sample[k++ % sample.length] }),
        400,
      );
      const pathSocket = await time(
        () => viaSocket('/VolumeDriver.Path', { Name: sample[k++ % sample.length] }),
        400,
      );
      const mount = await time(
        () => inProcess('/VolumeDriver.Mount', { Name: sample[k % sample.length], ID: `id${k++}` }),
        200,
      );
      const mountSocket = await time(
        () => viaSocket('/VolumeDriver.Mount', { Name: sample[k % sample.length], ID: `id${k++}` }),
        200,
      );
      console.log(
        `get volumes=${count} first(in-process)=${ms(getCold)} repeat(in-process)=${ms(getWarm)} repeat(socket)=${ms(getSocket)} first-after-warm-up(in-process)=${ms(getWarmed)}`,
      );
      console.log(
        `warm-up volumes=${count} warmed=${warmedCount} took=${(warmMs / 1000).toFixed(2)} s (one listing + one lsattr per 1,000 volumes, background)`,
      );
      console.log(`path volumes=${count} in-process=${ms(path)} socket=${ms(pathSocket)}`);
      console.log(
        `mount volumes=${count} in-process=${ms(mount)} socket=${ms(mountSocket)} (persists the mount table each time)`,
      );

      let c = 0;
      const create = await time(
        () => inProcess('/VolumeDriver.Create', { Name: `new${count}x${c++}` }),
        20,
      );
      console.log(`create volumes=${count} median=${ms(create)}`);
    }

    const snap = await time(() => inProcess('/VolumeDriver.Snapshot', { Name: 'bench000001' }), 30);
    let r = 0;
    const raw = await time(
      () =>
        execa('btrfs', [
          'subvolume',
          'snapshot',
          '-r',
          '--',
          join(volumesPath, 'bench000002'),
          join(snapshotsPath, `raw@${r++}`),
        ]),
      30,
    );
    console.log(`snapshot api=${ms(snap)} raw-btrfs=${ms(raw)} ratio=${(snap / raw).toFixed(2)}`);

    // A real purge of 2,000 hourly snapshots (names aged 0..1999 h).
    const now = Date.now();
    const source = join(volumesPath, 'bench000003');
    for (let h = 0; h < 2000; h++) {
      const name = `bench000003@${formatTimestamp(new Date(now - h * 3_600_000))}`;
      await execa('btrfs', [
        'subvolume',
        'snapshot',
        '-r',
        '--',
        source,
        join(snapshotsPath, name),
      ]);
    }
    const started = performance.now();
    const purge = (await inProcess('/VolumeDriver.Snapshots.Purge', {
      Name: 'bench000003',
      Pattern: '1d:1w:4w:1y',
    })) as {
      Purged: string[];
    };
    const purgeMs = performance.now() - started;
    console.log(
      `purge snapshots=2000 pattern=1d:1w:4w:1y purged=${purge.Purged.length} kept=${2000 - purge.Purged.length} total=${ms(purgeMs)} per-snapshot=${ms(purgeMs / Math.max(1, purge.Purged.length))}`,
    );
  } finally {
    await close?.();
    await fs.cleanup();
  }
}

await main();
