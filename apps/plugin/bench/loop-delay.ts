// Preloaded into the daemon by bench/docker-calls.ts (node --import): the daemon's own event
// loop delay (perf_hooks), the cause of slow Docker calls that no lock explains. On SIGUSR2 it
// writes the figures since the previous SIGUSR2 to BENCH_LOOP_DELAY_FILE and starts afresh.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
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
  });
}
