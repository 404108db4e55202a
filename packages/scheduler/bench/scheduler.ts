// Figures for 1,000 volumes x 3 jobs: how long one pass takes to decide what is due (goal
// < 20 ms), reading schedule.csv included, and the memory of a process holding it all
// (goal < 100 MB). Plain lines, one figure each.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dueJobs } from '../src/decide.js';
import { type JobState, ScheduleStore } from '../src/index.js';
import type { JobKey } from '../src/job.js';

const VOLUMES = 1000;
const PASSES = 200;
const MIN = 60_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function measure(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

async function measureAsync(runs: number, fn: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

const dir = await mkdtemp(join(tmpdir(), 'bv-bench-sched-'));
try {
  const rows: string[] = [];
  for (let i = 0; i < VOLUMES; i += 1) {
    const volume = `volume-${String(i).padStart(4, '0')}`;
    rows.push(`${volume},snapshot,${15 + (i % 60)},True`);
    rows.push(`${volume},purge:1h:1d:4w:1y,60,True`);
    rows.push(
      `${volume},replicate:backup-${i % 7}.example.org,${i % 2 ? '30 2 * * *' : '1440'},True`,
    );
  }
  const store = new ScheduleStore(join(dir, 'schedule.csv'));
  await writeFile(store.path, rows.map((r) => `${r}\r\n`).join(''));

  const coldStart = performance.now();
  const schedule = await store.read();
  const coldMs = performance.now() - coldStart;
  if (schedule.jobs.length !== VOLUMES * 3 || schedule.problems.length > 0) {
    throw new Error(`bench schedule did not parse: ${schedule.problems[0]?.reason}`);
  }

  // Every job ran at some point within the last day: a realistic mix of due and not due.
  const now = new Date();
  const states = new Map<JobKey, JobState>();
  schedule.jobs.forEach((job, i) => {
    const at = now.getTime() - ((i * 7919) % (24 * 60)) * MIN;
    states.set(job.key, {
      firstSeen: at - MIN,
      lastAttempt: at,
      lastSuccess: at,
      lastOutcome: 'success',
    });
  });

  let due = 0;
  const decideMs = measure(PASSES, () => {
    due = dueJobs(schedule.jobs, states, now).length;
  });
  const readMs = await measureAsync(50, async () => {
    await store.read();
  });
  const passMs = await measureAsync(50, async () => {
    const fresh = await store.read();
    dueJobs(fresh.jobs, states, now);
  });

  // Memory is measured in a plain node child on the built package: tsx's own ~80 MB would
  // swamp the figure here.
  const hold = fileURLToPath(new URL('./hold.mjs', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', hold, store.path]);
  const child = JSON.parse(stdout) as { jobs: number; rss: number; heapUsed: number };
  const baseline = JSON.parse(
    (
      await promisify(execFile)(process.execPath, [
        '--expose-gc',
        '--input-type=module',
        '-e',
        'globalThis.gc(); const m = process.memoryUsage(); process.stdout.write(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed }));',
      ])
    ).stdout,
  ) as { rss: number; heapUsed: number };
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

  console.log(`jobs: ${schedule.jobs.length} (${VOLUMES} volumes x 3)`);
  console.log(`due at this pass: ${due}`);
  console.log(`decide what is due, median of ${PASSES}: ${decideMs.toFixed(3)} ms (goal < 20 ms)`);
  console.log(`read schedule.csv (cached rows), median of 50: ${readMs.toFixed(3)} ms`);
  console.log(`read + decide (one pass), median of 50: ${passMs.toFixed(3)} ms`);
  console.log(`first read of schedule.csv (parse every row): ${coldMs.toFixed(1)} ms`);
  console.log(`process holding ${child.jobs} jobs, rss: ${mb(child.rss)} MB (goal < 100 MB)`);
  console.log(`process holding ${child.jobs} jobs, heap used: ${mb(child.heapUsed)} MB`);
  console.log(
    `empty node process, rss: ${mb(baseline.rss)} MB, heap used: ${mb(baseline.heapUsed)} MB`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
