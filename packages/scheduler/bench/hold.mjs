// Child of bench/scheduler.ts: plain node on the built package (no tsx in the figures), holding
// a 3,000-job schedule and its state as the daemon does, then printing its memory as JSON.
import { dueJobs, ScheduleStore } from '../dist/index.js';

const store = new ScheduleStore(process.argv[2]);
const schedule = await store.read();
const now = Date.now();
const states = new Map(
  schedule.jobs.map((job, i) => [job.key, { lastAttempt: now - i * 1000, lastOutcome: 'success' }]),
);
dueJobs(schedule.jobs, states, new Date(now));
globalThis.gc?.();
const memory = process.memoryUsage();
process.stdout.write(
  JSON.stringify({ jobs: schedule.jobs.length, rss: memory.rss, heapUsed: memory.heapUsed }),
);
