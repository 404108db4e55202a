// The built daemon's resident memory, idle and at 10,000 volumes (after a List and a Get of
// each, as Docker does after a start), on a real loop-mounted btrfs:
//   pnpm build && pnpm --filter @buttervolume/plugin bench:rss
// Goal: < 80 MB at 10,000 volumes. BENCH_RSS_DAEMONS (comma-separated paths to a CLI's bin.js,
// executed itself as launchers do, or to a daemon's main.js, run by plain `node`; default the
// built CLI) compares builds on the same volumes, one at a time. The spawner child's RSS is
// printed apart: it is a process of its own, not the daemon's RSS the goal is about.
// BENCH_RSS_HEAP_DIR=<dir> writes a heap snapshot of each daemon after start and after the
// Gets (each snapshot collects garbage first, so the figures after it are lower than without).

import { readdir, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, quantile } from '@buttervolume/test-utils';
import { execa } from 'execa';
import pMap from 'p-map';
import { createFixture, suffix } from '../test/integration/helpers.js';
import { CLI, cpuMs, keptAlive, spawnBuilt } from './built.js';

const VOLUMES = Number(process.env.BENCH_VOLUMES ?? 10_000);
const DAEMONS = (process.env.BENCH_RSS_DAEMONS ?? CLI).split(',');
const HEAP_DIR = process.env.BENCH_RSS_HEAP_DIR;

/** A heap snapshot of the daemon (`--heapsnapshot-signal`), once it is written. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  const before = new Set(await readdir(dir));
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    await sleep(500);
    const written = (await readdir(dir)).filter(
      (f) => !before.has(f) && f.endsWith('.heapsnapshot'),
    );
    // Written in one go by the daemon's main thread: its size stops moving once done.
    if (written.length > 0) {
      const size = async () => (await stat(join(dir, written[0]!))).size;
      const first = await size();
      await sleep(500);
      if ((await size()) === first && first > 0) return;
    }
  }
}

async function main(): Promise<void> {
  const { fs, volumesPath, snapshotsPath, runPath } = await createFixture(4096);
  try {
    const env = (tag: string): Record<string, string> => ({
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: join(runPath, tag),
      BUTTERVOLUME_SOCKET: join(runPath, `bv-rss-${suffix()}.sock`),
      BUTTERVOLUME_SCHEDULE: join(runPath, `${tag}-schedule.csv`),
      BUTTERVOLUME_CONFIG_FILE: join(runPath, 'no-config.ini'),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      ...(HEAP_DIR
        ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}` }
        : {}),
    });
    const idle: number[] = [];
    for (const [i, daemon] of DAEMONS.entries()) {
      const built = await spawnBuilt(env(`idle${i}`), daemon);
      await sleep(2000);
      idle.push(await built.rssMiB());
      await built.stop();
    }
    const names = Array.from({ length: VOLUMES }, (_, i) => `vol${String(i).padStart(5, '0')}`);
    await pMap(names, (n) => execa('btrfs', ['subvolume', 'create', '--', join(volumesPath, n)]), {
      concurrency: 16,
    });
    for (const [i, daemon] of DAEMONS.entries()) {
      const daemonEnv = env(`full${i}`);
      const built = await spawnBuilt(daemonEnv, daemon);
      try {
        // The start-up warm-up of every volume's status runs in the background: let it end.
        await sleep(5000);
        const started = await built.rssMiB();
        if (HEAP_DIR) await heapSnapshot(built.pid, HEAP_DIR);
        const cpuBefore = await cpuMs(built.pid);
        // A connection opened now: one left idle over the 5 s above may be closed by the
        // daemon's keep-alive timeout just as a call reuses it (ECONNRESET).
        const kept = keptAlive(daemonEnv.BUTTERVOLUME_SOCKET!);
        let t0 = performance.now();
        const { json } = await kept.call('/VolumeDriver.List');
        const listMs = performance.now() - t0;
        const listed = json.Volumes as { Name: string }[];
        // Each Get's latency too: a flag or a cache that saves memory must not cost it.
        const getMs: number[] = [];
        for (const { Name } of listed) {
          t0 = performance.now();
          await kept.call('/VolumeDriver.Get', { Name });
          getMs.push(performance.now() - t0);
        }
        kept.close();
        const cpu = (await cpuMs(built.pid)) - cpuBefore;
        const used = await built.rssMiB();
        if (HEAP_DIR) await heapSnapshot(built.pid, HEAP_DIR);
        // RSS moves with each collection: a second figure once the daemon has been idle.
        await sleep(5000);
        const settled = await built.rssMiB();
        const children = [...(await built.childrenRssMiB()).values()]
          .map((mb) => `${mb.toFixed(1)} MB`)
          .join(', ');
        console.log(
          `rss ${daemon}: idle=${idle[i]!.toFixed(1)} MB; volumes=${listed.length} after-start=${started.toFixed(1)} MB after-list-and-get-of-each=${used.toFixed(1)} MB, 5 s later ${settled.toFixed(1)} MB (goal < 80 MB); daemon CPU of the List and ${listed.length} Gets ${cpu.toFixed(0)} ms; List ${listMs.toFixed(1)} ms, Get p50 ${median(getMs).toFixed(2)} ms p99 ${quantile(getMs, 0.99).toFixed(2)} ms; children (spawner): ${children || 'none'}; load average ${loadavg()[0]!.toFixed(2)}`,
        );
      } finally {
        await built.stop();
      }
    }
  } finally {
    await fs.cleanup();
  }
}

await main();
