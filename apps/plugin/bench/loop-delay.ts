// Preloaded into the daemon by bench/docker-calls.ts (node --import): the daemon's own event
// loop delay (perf_hooks), the cause of slow Docker calls that no lock explains. On SIGUSR2 it
// does what BENCH_LOOP_DELAY_FILE.cmd says (default `report`):
// - `report`: writes the figures since the previous report (kept stretches included) to
//   BENCH_LOOP_DELAY_FILE and starts afresh;
// - `keep`: keeps the stretch since the previous signal for the next report;
// - `drop`: forgets it (what the bench does between the stretches it measures).
// With BENCH_CPU_PROFILE_DIR, also a CPU profile of each stretch (<n>.cpuprofile, for DevTools).
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
const profiles = process.env.BENCH_CPU_PROFILE_DIR;
// The time between two ticks of a RESOLUTION_MS timer, as monitorEventLoopDelay measures it
// (whose histogram cannot be added to another); the delay is what exceeds the tick.
const RESOLUTION_MS = 5;
if (file) {
  const histogram = createHistogram();
  setInterval(() => histogram.recordDelta(), RESOLUTION_MS).unref();
  const kept = createHistogram();
  let session: Session | undefined;
  let stretch = 0;
  if (profiles) {
    session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.start');
  }
  process.on('SIGUSR2', () => {
    let command = 'report';
    try {
      command = readFileSync(`${file}.cmd`, 'utf8').trim();
    } catch {
      // No command file: a plain report.
    }
    if (command !== 'drop') kept.add(histogram);
    histogram.reset();
    if (command === 'report') {
      const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
      const figures = {
        p50: ms(kept.percentile(50)),
        p99: ms(kept.percentile(99)),
        max: ms(kept.max),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      };
      kept.reset();
      writeFileSync(file, JSON.stringify(figures));
    }
    if (session && profiles) {
      const n = stretch++;
      session.post('Profiler.stop', (error, result) => {
        if (!error)
          writeFileSync(
            join(profiles, `${n}-${command}.cpuprofile`),
            JSON.stringify(result.profile),
          );
        session?.post('Profiler.start');
      });
    }
  });
}
