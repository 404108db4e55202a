// Benchmarks of @buttervolume/btrfs on a real loop-mounted btrfs (needs root).
//   pnpm --filter @buttervolume/btrfs bench
// Prints plain "name: value" lines. Entry and sample counts: BENCH_ENTRIES, BENCH_SAMPLES.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createLoopBtrfs, median, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import pMap from 'p-map';
import { Btrfs } from '../src/index.js';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 30);
const SWEEPS = 7;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const fmt = (ms: number) => ms.toFixed(2);

async function main(): Promise<void> {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs']);
  const btrfs = new Btrfs();
  // Sparse: 10k empty subvolumes need ~300 MiB of DUP metadata, the image only grows that much.
  const fs = await createLoopBtrfs({ sizeMiB: 4096 });
  try {
    const dir = join(fs.mountPoint, 'volumes');
    await mkdir(dir);
    // Half subvolumes, half plain folders: the sweep must tell them apart.
    const names = Array.from({ length: ENTRIES }, (_, i) => `v${String(i).padStart(5, '0')}`);
    const setupStart = performance.now();
    await pMap(
      names,
      async (name) => {
        const index = Number(name.slice(1));
        if (index % 2 === 0) {
          await execa('btrfs', ['subvolume', 'create', '--', join(dir, name)]);
        } else {
          await mkdir(join(dir, name));
        }
      },
      { concurrency: 8 },
    );
    console.log(
      `setup: ${ENTRIES} entries (${ENTRIES / 2} subvolumes) in ${fmt(performance.now() - setupStart)} ms`,
    );

    const paths = names.map((name) => join(dir, name));
    const sweeps: number[] = [];
    let found = 0;
    for (let i = 0; i < SWEEPS; i++) {
      sweeps.push(
        await timed(async () => {
          const answers = await Promise.all(paths.map((path) => btrfs.isSubvolume(path)));
          found = answers.filter(Boolean).length;
        }),
      );
    }
    if (found !== ENTRIES / 2)
      throw new Error(`isSubvolume found ${found}, expected ${ENTRIES / 2}`);
    console.log(
      `isSubvolume sweep over ${ENTRIES} entries: median ${fmt(median(sweeps))} ms (${fmt((median(sweeps) * 1000) / ENTRIES)} us/entry, ${SWEEPS} runs)`,
    );

    const lists: number[] = [];
    let listed = 0;
    for (let i = 0; i < SWEEPS; i++) {
      lists.push(await timed(async () => (listed = (await btrfs.listSubvolumes(dir)).length)));
    }
    if (listed !== ENTRIES / 2) throw new Error(`listSubvolumes found ${listed}`);
    console.log(
      `listSubvolumes of ${ENTRIES} entries (${listed} subvolumes): median ${fmt(median(lists))} ms (${SWEEPS} runs)`,
    );

    // Get's facts for every volume at once: one listing and a few lsattr batches, against one
    // `subvolume show` (which walks every subvolume) per volume.
    const subvolumes = paths.filter((_, index) => index % 2 === 0);
    const listings: number[] = [];
    for (let i = 0; i < SWEEPS; i++) listings.push(await timed(() => btrfs.snapshotTimes(dir)));
    const flagSweeps: number[] = [];
    for (let i = 0; i < 3; i++) {
      flagSweeps.push(
        await timed(async () => {
          const flags = await btrfs.nocowFlags(subvolumes);
          if (flags.size !== subvolumes.length) throw new Error(`nocowFlags: ${flags.size}`);
        }),
      );
    }
    const shows: number[] = [];
    for (let i = 0; i < 5; i++) shows.push(await timed(() => btrfs.show(subvolumes[i]!)));
    console.log(
      `snapshotTimes with ${listed} subvolumes: median ${fmt(median(listings))} ms (one process, ${SWEEPS} runs)`,
    );
    console.log(
      `nocowFlags of ${subvolumes.length} subvolumes: median ${fmt(median(flagSweeps))} ms (3 runs)`,
    );
    console.log(`show of one subvolume among ${listed}: median ${fmt(median(shows))} ms (5 runs)`);

    // Snapshot latency: wrapper vs. bare execa. Warm up both paths (JIT, page cache), then
    // alternate which goes first, so a commit left pending by one does not always hit the other.
    const source = join(fs.mountPoint, 'source');
    await btrfs.createSubvolume(source);
    const snaps = join(fs.mountPoint, 'snaps');
    await mkdir(snaps);
    const viaWrapper = (name: string) =>
      timed(() => btrfs.snapshot(source, join(snaps, name), { readonly: true }));
    const viaExeca = (name: string) =>
      timed(() => execa('btrfs', ['subvolume', 'snapshot', '-r', '--', source, join(snaps, name)]));
    for (let i = 0; i < 3; i++) {
      await viaWrapper(`warm-w${i}`);
      await viaExeca(`warm-d${i}`);
    }
    const wrapper: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      if (i % 2 === 0) {
        wrapper.push(await viaWrapper(`w${i}`));
        direct.push(await viaExeca(`d${i}`));
      } else {
        direct.push(await viaExeca(`d${i}`));
        wrapper.push(await viaWrapper(`w${i}`));
      }
    }
    const w = median(wrapper);
    // What starting a process costs through execa and through node:child_process (what run()
    // uses), for a command that does nothing: the difference is per btrfs call.
    const version = ['--version'];
    const spawnExeca: number[] = [];
    const spawnPlain: number[] = [];
    for (let i = 0; i < SAMPLES * 4; i++) {
      spawnExeca.push(await timed(() => execa('btrfs', version, { stdin: 'ignore' })));
      spawnPlain.push(await timed(() => promisify(execFile)('btrfs', version)));
    }
    console.log(
      `spawn of btrfs --version: execa median ${fmt(median(spawnExeca))} ms, node:child_process median ${fmt(median(spawnPlain))} ms (${SAMPLES * 4} runs each, alternated)`,
    );
    const d = median(direct);
    console.log(`snapshot via Btrfs.snapshot: median ${fmt(w)} ms (${SAMPLES} runs)`);
    console.log(`snapshot via execa btrfs: median ${fmt(d)} ms (${SAMPLES} runs)`);
    console.log(
      `snapshot wrapper/direct ratio: ${(w / d).toFixed(3)} (overhead ${fmt(((w - d) / d) * 100)} %)`,
    );
  } finally {
    await fs.cleanup();
  }
}

await main();
