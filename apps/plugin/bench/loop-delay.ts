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
import { constants, createHistogram, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
const profiles = process.env.BENCH_CPU_PROFILE_DIR;
// The time between two ticks of a RESOLUTION_MS timer, as monitorEventLoopDelay measures it
// (whose histogram cannot be added to another); the delay is what exceeds the tick.
const RESOLUTION_MS = 5;
if (file) {
  const histogram = createHistogram();
  setInterval(() => histogram.recordDelta(), RESOLUTION_MS).unref();
  const kept = createHistogram();
  // Garbage collection on the main thread, by kind, in the same stretches: how much of the
  // delay is the collector's (the daemon's V8 flags trade collector time for memory).
  const KINDS: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  type Pauses = Record<string, { count: number; ms: number; max: number }>;
  const of = (pauses: Pauses, kind: string) => {
    pauses[kind] ??= { count: 0, ms: 0, max: 0 };
    return pauses[kind];
  };
  let gc: Pauses = {};
  let keptGc: Pauses = {};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = KINDS[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      const pauses = of(gc, kind);
      pauses.count++;
      pauses.ms += entry.duration;
      pauses.max = Math.max(pauses.max, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  const keepGc = () => {
    for (const [kind, pauses] of Object.entries(gc)) {
      const into = of(keptGc, kind);
      into.count += pauses.count;
      into.ms += pauses.ms;
      into.max = Math.max(into.max, pauses.max);
    }
  };
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
    if (command !== 'drop') {
      kept.add(histogram);
      keepGc();
    }
    histogram.reset();
    gc = {};
    if (command === 'report') {
      const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
      const figures = {
        p50: ms(kept.percentile(50)),
        p99: ms(kept.percentile(99)),
        max: ms(kept.max),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        gc: Object.fromEntries(
          Object.entries(keptGc).map(([kind, p]) => [
            kind,
            { count: p.count, ms: Math.round(p.ms), max: Math.round(p.max * 10) / 10 },
          ]),
        ),
      };
      kept.reset();
      keptGc = {};
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
