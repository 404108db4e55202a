// A Prometheus scrape at 10,000 volumes and 100,000 snapshots, and Docker's Get latency while
// scrapes run, on a real loop-mounted btrfs:
//   pnpm --filter @buttervolume/plugin bench:metrics
// Goals: a scrape < 100 ms (median), Get's p99 during scrapes within noise of Get's p99 alone.
// Volumes are real subvolumes; the snapshots are plain folders with snapshot names (a scrape
// only reads names from the cached listing, so the kind of entry does not matter to it, and
// 100,000 real snapshots would take the bench an hour to make). Every volume has a daily
// replicate job that last ran now (nothing runs during the bench) and a recorded send.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatTimestamp } from '@buttervolume/retention';
import { freeLoopbackPort, quantile } from '@buttervolume/test-utils';
import { execa } from 'execa';
import pMap from 'p-map';
import { silentLogger, startDaemon } from '../src/index.js';
import { createFixture, overSocket } from '../test/integration/helpers.js';

const VOLUMES = 10_000;
const SNAPSHOTS_PER_VOLUME = 10;
const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';

const ms = (value: number) => `${value.toFixed(2)} ms`;

async function main(): Promise<void> {
  const { fs, volumesPath, snapshotsPath, config } = await createFixture(4096);
  let close: (() => Promise<void>) | undefined;
  try {
    const names = Array.from({ length: VOLUMES }, (_, i) => `vol${String(i).padStart(5, '0')}`);
    let started = performance.now();
    await pMap(names, (n) => execa('btrfs', ['subvolume', 'create', '--', join(volumesPath, n)]), {
      concurrency: 16,
    });
    const now = Date.now();
    for (const name of names) {
      for (let k = 0; k < SNAPSHOTS_PER_VOLUME; k++) {
        const stamp = formatTimestamp(new Date(now - k * 3600_000 - 1000), FORMAT);
        await mkdir(join(snapshotsPath, `${name}@${stamp}`));
      }
    }
    console.log(
      `setup: ${VOLUMES} volumes, ${VOLUMES * SNAPSHOTS_PER_VOLUME} snapshots in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const at = new Date(now).toISOString();
    await writeFile(
      config.schedule,
      names.map((n) => `${n},replicate:backup1,1440,True\r\n`).join(''),
    );
    await writeFile(
      `${config.schedule}.state.json`,
      JSON.stringify({
        version: 1,
        jobs: names.map((name) => ({
          name,
          action: 'replicate:backup1',
          firstSeen: at,
          lastAttempt: at,
          lastSuccess: at,
          lastOutcome: 'success',
        })),
        sends: names.map((volume) => ({
          volume,
          host: 'backup1',
          lastSuccess: { at, bytes: 123456, incremental: true, durationMs: 800 },
        })),
      }),
    );
    const port = await freeLoopbackPort();
    const daemon = await startDaemon(
      { ...config, metricsAddress: { host: '127.0.0.1', port } },
      { logger: silentLogger },
    );
    close = () => daemon.close();
    const call = overSocket(daemon.socketPath);
    const url = `http://127.0.0.1:${port}/metrics`;

    // Warm: the listings, the state, the first Get of each sampled volume.
    started = performance.now();
    const first = await (await fetch(url)).text();
    const firstMs = performance.now() - started;
    const sample = Array.from({ length: 200 }, (_, i) => names[(i * 50) % VOLUMES]!);
    for (const name of sample) await call('/VolumeDriver.Get', { Name: name });

    const scrapes: number[] = [];
    const cpu: number[] = [];
    let size = 0;
    for (let i = 0; i < 30; i++) {
      // A report is reused for 1 s: wait past it so each scrape computes afresh.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const body = await (await fetch(url)).text();
      const c1 = process.cpuUsage(c0);
      scrapes.push(performance.now() - t0);
      // The daemon's and the client's CPU (one process): a loaded machine stretches the wall
      // time, not this.
      cpu.push((c1.user + c1.system) / 1000);
      size = body.length;
    }
    const series = first.split('\n').filter((line) => line && !line.startsWith('#')).length;

    const gets = async (count: number) => {
      const samples: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const { json } = await call('/VolumeDriver.Get', { Name: sample[i % sample.length] });
        samples.push(performance.now() - t0);
        if (json.Err) throw new Error(String(json.Err));
      }
      return samples;
    };
    const alone = await gets(2000);
    let scraping = true;
    let during = 0;
    let failed = 0;
    const scraper = (async () => {
      while (scraping) {
        try {
          await (await fetch(url)).text();
          during++;
        } catch {
          failed++;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const withScrapes = await gets(2000);
    scraping = false;
    await scraper;

    console.log(`first scrape (cold listings): ${ms(firstMs)}`);
    console.log(
      `scrape at ${VOLUMES} volumes / ${VOLUMES * SNAPSHOTS_PER_VOLUME} snapshots: median ${ms(quantile(scrapes, 0.5))}, p90 ${ms(quantile(scrapes, 0.9))} (goal < 100 ms); CPU median ${ms(quantile(cpu, 0.5))} (daemon and client); ${series} samples, ${(size / 1024 / 1024).toFixed(1)} MiB; load average ${loadavg()[0]!.toFixed(2)}`,
    );
    console.log(
      `Get alone: median ${ms(quantile(alone, 0.5))}, p99 ${ms(quantile(alone, 0.99))}; ` +
        `during ${during} scrapes (${failed} failed): median ${ms(quantile(withScrapes, 0.5))}, p99 ${ms(quantile(withScrapes, 0.99))}`,
    );
  } finally {
    await close?.();
    await fs.cleanup();
  }
}

await main();
