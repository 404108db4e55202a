// Classifies 100,000 snapshot names (several volumes, some send markers) 40 times and prints
// the median and the minimum. 3.x's compute_purges takes about 480 ms for the same work.
import { loadavg } from 'node:os';
import { formatTimestamp, planPurge } from '../src/index.js';

const COUNT = 100_000;
const RUNS = 40;
/** Runs that warm the JIT and the heap up first; they are not counted. */
const WARMUP = 10;
const PATTERN = '1h:1d:1w:4w:1y';
/** The calendar kind: every unit walks its buckets; yearly=all walks every snapshot. */
const CALENDAR = 'hourly=24,daily=7,weekly=4,monthly=12,yearly=all,min=1h';
const now = new Date(2026, 10, 24, 19, 13, 40, 123);

interface Spec {
  readonly volume: string;
  readonly age: number;
  readonly host?: string;
}

/** One snapshot every 5 minutes per volume, plus a send marker a day old per volume. */
function specs(): Spec[] {
  const volumes = ['db', 'files', 'mail', 'web'];
  const perVolume = COUNT / volumes.length;
  const out: Spec[] = [];
  for (const volume of volumes) {
    for (let k = perVolume - 1; k >= 0; k--) out.push({ volume, age: k * 300_000 + 1234 });
    out.push({ volume, age: 86_400_000, host: 'backup1' });
  }
  return out;
}

/**
 * Names are built in list order, as readdir returns them: each string sits in memory next to
 * the previous one, so the shuffled case measures sorting, not cache misses of a shuffled array.
 */
function names(list: readonly Spec[]): string[] {
  return list.map(({ volume, age, host }) => {
    const name = `${volume}@${formatTimestamp(new Date(now.getTime() - age))}`;
    return host ? `${name}@${host}` : name;
  });
}

/** A random (but fixed) order: the sort has to do real work. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function measure(label: string, names: readonly string[], policy = PATTERN): void {
  const times: number[] = [];
  const cpu: number[] = [];
  let purged = 0;
  for (let run = 0; run < RUNS + WARMUP; run++) {
    const start = performance.now();
    const used = process.cpuUsage();
    purged = planPurge(names, policy, now).purge.length;
    const { user, system } = process.cpuUsage(used);
    if (run >= WARMUP) {
      times.push(performance.now() - start);
      cpu.push((user + system) / 1000);
    }
  }
  console.log(`${label}: ${names.length} names, ${purged} purged, policy ${policy}`);
  // CPU time next to wall time: on a loaded machine the wall clock also counts the waits.
  console.log(
    `${label}: median ${median(times).toFixed(2)} ms (CPU ${median(cpu).toFixed(2)} ms), min ${Math.min(...times).toFixed(2)} ms over ${RUNS} runs, load ${loadavg()[0]!.toFixed(1)}${policy === CALENDAR ? ' (goal < 25 ms)' : ''}`,
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2;
}

/** Names as readdir gives them: flat strings, not the concatenations that built them. */
function flat(list: readonly string[]): string[] {
  return JSON.parse(JSON.stringify(list)) as string[];
}

const list = specs();
measure('oldest first', flat(names(list)));
measure('shuffled', flat(names(shuffled(list))));
measure('calendar, oldest first', flat(names(list)), CALENDAR);
measure('calendar, shuffled', flat(names(shuffled(list))), CALENDAR);
