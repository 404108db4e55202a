// Preloaded into the daemon by bench/docker-calls.ts (node --import): the daemon's own event
// loop delay (perf_hooks), the cause of slow Docker calls that no lock explains. On SIGUSR2 it
// writes the figures since the previous SIGUSR2 to BENCH_LOOP_DELAY_FILE and starts afresh;
// with BENCH_CPU_PROFILE_DIR, also a CPU profile of that stretch (<n>.cpuprofile, for DevTools).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
const profiles = process.env.BENCH_CPU_PROFILE_DIR;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let session: Session | undefined;
  let stretch = 0;
  if (profiles) {
    session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.start');
  }
  process.on('SIGUSR2', () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const figures = {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    writeFileSync(file, JSON.stringify(figures));
    histogram.reset();
    if (session && profiles) {
      const n = stretch++;
      session.post('Profiler.stop', (error, result) => {
        if (!error)
          writeFileSync(join(profiles, `${n}.cpuprofile`), JSON.stringify(result.profile));
        session?.post('Profiler.start');
      });
    }
  });
}
