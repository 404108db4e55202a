// A Prometheus scrape at 10,000 volumes and 100,000 snapshots, and Docker's Get latency while
// scrapes run, on a real loop-mounted btrfs:
//   pnpm --filter @buttervolume/plugin bench:metrics
// Goals: a scrape < 100 ms (median), Get's p99 during scrapes within noise of Get's p99 alone.
// Volumes are real subvolumes; the snapshots are plain folders with snapshot names (a scrape
// only reads names from the cached listing, so the kind of entry does not matter to it, and
// 100,000 real snapshots would take the bench an hour to make). Every volume has a daily
// replicate job that last ran now (nothing runs during the bench) and a recorded send.
// Scrapes come from a separate process, as Prometheus's would: this process's CPU time is the
// daemon's alone.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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

// The scraper process: "once" answers "<ms> <bytes>" after one scrape; "loop" scrapes every
// 20 ms until "stop", then answers "<scrapes> <failures>".
const SCRAPER = `
const url = process.argv[1];
let looping = false;
let loop;
const scrape = async () => (await (await fetch(url)).arrayBuffer()).byteLength;
require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line === 'once') {
    const t0 = performance.now();
    const bytes = await scrape();
    console.log(\`\${performance.now() - t0} \${bytes}\`);
  } else if (line === 'loop') {
    looping = true;
    loop = (async () => {
      let done = 0, failed = 0;
      while (looping) {
        try { await scrape(); done++; } catch { failed++; }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [done, failed];
    })();
  } else if (line === 'stop') {
    looping = false;
    console.log((await loop).join(' '));
  }
});
`;

function startScraper(url: string) {
  const child = spawn(process.execPath, ['-e', SCRAPER, url], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (command: string): Promise<number[]> => {
    child.stdin.write(`${command}\n`);
    if (command === 'loop') return [];
    const { value, done } = await lines.next();
    if (done) throw new Error('the scraper process exited');
    return String(value).split(' ').map(Number);
  };
  return { ask, stop: () => child.kill() };
}

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
    const scraper = startScraper(`http://127.0.0.1:${port}/metrics`);
    close = async () => {
      scraper.stop();
      await daemon.close();
    };
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
      const c0 = process.cpuUsage();
      const [elapsed, bytes] = await scraper.ask('once');
      const c1 = process.cpuUsage(c0);
      scrapes.push(elapsed!);
      // The daemon's CPU (the client is another process): a loaded machine stretches the wall
      // time, not this.
      cpu.push((c1.user + c1.system) / 1000);
      size = bytes!;
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
    await scraper.ask('loop');
    const withScrapes = await gets(2000);
    const [during, failed] = await scraper.ask('stop');

    console.log(`first scrape (cold listings): ${ms(firstMs)}`);
    console.log(
      `scrape at ${VOLUMES} volumes / ${VOLUMES * SNAPSHOTS_PER_VOLUME} snapshots: median ${ms(quantile(scrapes, 0.5))}, p90 ${ms(quantile(scrapes, 0.9))} (goal < 100 ms); daemon CPU median ${ms(quantile(cpu, 0.5))}; ${series} samples, ${(size / 1024 / 1024).toFixed(1)} MiB; load average ${loadavg()[0]!.toFixed(2)}`,
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
