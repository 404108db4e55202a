// The built daemon's resident memory, idle and at 10,000 volumes (after a List and a Get of
// each, as Docker does after a start), on a real loop-mounted btrfs:
//   pnpm build && pnpm --filter @buttervolume/plugin bench:rss
// Goal: < 80 MB at 10,000 volumes. BENCH_RSS_DAEMONS (comma-separated paths to a CLI's bin.js,
// executed itself as launchers do, or to a daemon's main.js, run by plain `node`; default the
// built CLI) compares builds on the same volumes, one at a time. The spawner child's RSS is
// printed apart.

import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import pMap from 'p-map';
import { createFixture, suffix } from '../test/integration/helpers.js';
import { CLI, cpuMs, keptAlive, spawnBuilt } from './built.js';

const VOLUMES = Number(process.env.BENCH_VOLUMES ?? 10_000);
const DAEMONS = (process.env.BENCH_RSS_DAEMONS ?? CLI).split(',');

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
        const cpuBefore = await cpuMs(built.pid);
        // A connection opened now: one left idle over the 5 s above may be closed by the
        // daemon's keep-alive timeout just as a call reuses it (ECONNRESET).
        const kept = keptAlive(daemonEnv.BUTTERVOLUME_SOCKET!);
        const { json } = await kept.call('/VolumeDriver.List');
        const listed = json.Volumes as { Name: string }[];
        for (const { Name } of listed) await kept.call('/VolumeDriver.Get', { Name });
        kept.close();
        const cpu = (await cpuMs(built.pid)) - cpuBefore;
        const used = await built.rssMiB();
        // RSS moves with each collection: a second figure once the daemon has been idle.
        await sleep(5000);
        const settled = await built.rssMiB();
        const children = [...(await built.childrenRssMiB()).values()]
          .map((mb) => `${mb.toFixed(1)} MB`)
          .join(', ');
        console.log(
          `rss ${daemon}: idle=${idle[i]!.toFixed(1)} MB; volumes=${listed.length} after-start=${started.toFixed(1)} MB after-list-and-get-of-each=${used.toFixed(1)} MB, 5 s later ${settled.toFixed(1)} MB (goal < 80 MB); daemon CPU of the List and ${listed.length} Gets ${cpu.toFixed(0)} ms; children (spawner): ${children || 'none'}; load average ${loadavg()[0]!.toFixed(2)}`,
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
