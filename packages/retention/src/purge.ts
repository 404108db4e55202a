import {
  bucketLabel,
  bucketOf,
  bucketStart,
  CALENDAR_UNITS,
  type CalendarPolicy,
  parsePolicy,
  type RetentionPolicy,
} from './calendar.js';
import { InvalidDateError, InvalidTimeZoneError } from './errors.js';
import type { RetentionItem } from './pattern.js';
import { compileNameFormat, splitName } from './snapshot-name.js';
import {
  type CompiledFormat,
  DEFAULT_TIMESTAMP_FORMAT,
  readWallClockMs,
  wallClockMsIn,
} from './timestamp.js';

export interface PurgeOptions {
  /** strftime format of the timestamps in the names (3.x's DTFORMAT). */
  readonly format?: string;
  /**
   * IANA zone whose wall clock `now` is read in (names hold wall-clock times); the process's
   * local zone when left out, as 3.x.
   */
  readonly timeZone?: string;
}

export interface PurgePlan {
  /** Names to delete, in input order, each once. */
  readonly purge: string[];
  /** Every other name, in input order, each once. */
  readonly keep: string[];
}

export type PurgeDecision = 'keep' | 'purge';

export interface PurgeExplanation {
  readonly name: string;
  readonly decision: PurgeDecision;
  /** In words, e.g. "kept: oldest in its 1d window between 1d and 2w", "kept: newest of 2026-W47 (weekly)". */
  readonly reason: string;
}

/** Which names a pattern purges at `now`. Names may belong to several volumes. */
export function planPurge(
  names: readonly string[],
  pattern: RetentionPolicy | string,
  now: Date,
  options: PurgeOptions = {},
): PurgePlan {
  const d = decide(names, pattern, now, options);
  // Sized up front: 100,000 pushes would copy the growing arrays over and over.
  let purged = 0;
  let kept = 0;
  for (let i = 0; i < names.length; i++) {
    if (d.reason[i] === DUPLICATE) continue;
    if (d.purge[i]) purged++;
    else kept++;
  }
  const purge = new Array<string>(purged);
  const keep = new Array<string>(kept);
  purged = 0;
  kept = 0;
  for (let i = 0; i < names.length; i++) {
    if (d.reason[i] === DUPLICATE) continue;
    if (d.purge[i]) purge[purged++] = names[i]!;
    else keep[kept++] = names[i]!;
  }
  return { purge, keep };
}

/** Same decisions as planPurge, with the reason for each name, in input order. */
export function explainPurge(
  names: readonly string[],
  pattern: RetentionPolicy | string,
  now: Date,
  options: PurgeOptions = {},
): PurgeExplanation[] {
  const d = decide(names, pattern, now, options);
  const out: PurgeExplanation[] = [];
  for (let i = 0; i < names.length; i++) {
    if (d.reason[i] === DUPLICATE) continue;
    out.push({
      name: names[i]!,
      decision: d.purge[i] ? 'purge' : 'keep',
      reason: describe(d, names, i),
    });
  }
  return out;
}

// Reason codes, kept in a typed array so 100,000 decisions allocate no strings until explained.
const UNDECIDED = 0;
const NO_TIMESTAMP = 1;
const YOUNG = 2;
const FUTURE = 3;
const WINDOW = 4;
const NEWEST_MARKER = 5;
const SEND_PARENT = 6;
const TOO_OLD = 7;
const SAME_WINDOW = 8;
const SUPERSEDED_MARKER = 9;
/** A repeated name: decided once, reported once, at its first occurrence. */
const DUPLICATE = 10;
/** Calendar policy: younger than its min=. */
const CAL_YOUNG = 11;
/** Calendar policy: the newest of a bucket within the counts (unit in `segment`). */
const CAL_KEPT = 12;
/** Calendar policy: a newer snapshot (`opener`) is kept for the bucket (unit in `segment`). */
const CAL_NOT_NEWEST = 13;
/** Calendar policy: in no bucket within the counts. */
const CAL_OUTSIDE = 14;
/** The newest snapshot of its volume, which no purge deletes. */
const NEWEST = 15;

interface Decisions {
  /** Pattern items, largest first, as 3.x walks them; empty for a calendar policy. */
  readonly items: readonly RetentionItem[];
  readonly calendar: CalendarPolicy | undefined;
  /** Every name's wall-clock time (NaN when it has none). */
  readonly wall: Float64Array;
  readonly purge: Uint8Array;
  readonly reason: Uint8Array;
  /** For WINDOW and SAME_WINDOW: the segment (index into items of its upper bound); CAL_*: the unit. */
  readonly segment: Int32Array;
  /** For SAME_WINDOW: the snapshot that opened the window. */
  readonly opener: Int32Array;
  /** For markers: where the host starts in the name. */
  readonly hostAt: Int32Array;
  /** Snapshot name → hosts whose next incremental send uses it as parent. */
  readonly parents: Map<string, string[]>;
}

const SLOT_MASK = 63;

/** A volume, and how many of its names are snapshots and markers. */
interface Group {
  readonly volume: string;
  snapshotCount: number;
  markerCount: number;
}

/** Indexes of some names oldest first, with their wall-clock times, in the first `length`. */
interface Sorted {
  readonly indexes: Int32Array;
  readonly wall: Float64Array;
  readonly length: number;
}

function decide(
  names: readonly string[],
  pattern: RetentionPolicy | string,
  now: Date,
  options: PurgeOptions,
): Decisions {
  const compiled = compileNameFormat(options.format ?? DEFAULT_TIMESTAMP_FORMAT);
  const checked = typeof pattern === 'string' ? parsePolicy(pattern) : pattern;
  if (Number.isNaN(now.getTime())) throw new InvalidDateError(now);
  const nowWall = nowInZone(now, options.timeZone);
  const n = names.length;
  const wall = new Float64Array(n);
  const d: Decisions = {
    items: checked.kind === 'pattern' ? [...checked.items].reverse() : [],
    calendar: checked.kind === 'calendar' ? checked : undefined,
    wall,
    purge: new Uint8Array(n),
    reason: new Uint8Array(n),
    segment: new Int32Array(n),
    opener: new Int32Array(n),
    hostAt: new Int32Array(n),
    parents: new Map(),
  };
  const { member, groups } = groupNames(d, names, compiled);

  // Each group's snapshots and markers, in input order: one typed array each, filled in one pass.
  const lists: Int32Array[] = [];
  for (const group of groups) {
    lists.push(new Int32Array(group.snapshotCount), new Int32Array(group.markerCount));
  }
  const filled = new Int32Array(lists.length);
  for (let i = 0; i < n; i++) {
    const l = member[i]!;
    if (l >= 0) lists[l]![filled[l]!++] = i;
  }

  for (let g = 0; g < groups.length; g++) {
    const markers = oldestFirst(d, names, wall, lists[2 * g + 1]!);
    const newest = decideMarkers(d, names, markers);
    const snapshots = oldestFirst(d, names, wall, lists[2 * g]!);
    if (d.calendar) decideCalendar(d, d.calendar, snapshots, nowWall);
    else decideSnapshots(d, snapshots, nowWall);
    // A purge never empties a volume's history: after a forward clock jump every snapshot
    // looks older than a pattern's reach (3.x deleted them all) or than a policy's buckets.
    const last = snapshots.length > 0 ? snapshots.indexes[snapshots.length - 1]! : -1;
    if (last >= 0 && d.purge[last]) {
      d.purge[last] = 0;
      d.reason[last] = NEWEST;
    }
    // The snapshot a newest marker records has the marker's volume and time: find it by time.
    for (const i of newest) {
      const parent = names[i]!.slice(0, d.hostAt[i]! - 1);
      const k = find(snapshots, names, wall[i]!, parent);
      if (k >= 0) {
        const p = snapshots.indexes[k]!;
        d.purge[p] = 0;
        d.reason[p] = SEND_PARENT;
      }
    }
  }
  return d;
}

/**
 * Reads every name's time into `d.wall` and finds its volume. In a function of its own, this
 * hot loop is optimised as a whole early on, not through the long function around it.
 */
function groupNames(
  d: Decisions,
  names: readonly string[],
  compiled: CompiledFormat,
): { member: Int32Array; groups: Group[] } {
  // Per name: 2 × its group's number for a snapshot, 2 × it + 1 for a marker, -1 for neither.
  const n = names.length;
  const wall = d.wall;
  const member = new Int32Array(n);
  const groups: Group[] = [];
  const byVolume = new Map<string, number>();
  let unparsed: Set<string> | undefined;
  const slots = new Int32Array(SLOT_MASK + 1).fill(-1);

  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const parts = splitName(name);
    const ms = parts ? readWallClockMs(compiled, name, parts.at1 + 1, parts.at2) : Number.NaN;
    if (!parts || Number.isNaN(ms)) {
      wall[i] = Number.NaN;
      unparsed ??= new Set();
      d.reason[i] = unparsed.has(name) ? DUPLICATE : NO_TIMESTAMP;
      unparsed.add(name);
      member[i] = -1;
      continue;
    }
    wall[i] = ms;
    // Few volumes, many snapshots each: a slot picked by the volume's length and first letter
    // names its group, checked with one comparison, before paying for a slice and a hash lookup
    // (one slot, not a list to scan: names of mixed volumes cost no mispredicted branches).
    const slot = (parts.at1 * 31 + name.charCodeAt(0)) & SLOT_MASK;
    let g = slots[slot]!;
    if (g < 0 || groups[g]!.volume.length !== parts.at1 || !name.startsWith(groups[g]!.volume)) {
      const volume = name.slice(0, parts.at1);
      g = byVolume.get(volume) ?? -1;
      if (g < 0) {
        g = groups.length;
        groups.push({ volume, snapshotCount: 0, markerCount: 0 });
        byVolume.set(volume, g);
      }
      slots[slot] = g;
    }
    const group = groups[g]!;
    if (parts.at2 === name.length) {
      member[i] = 2 * g;
      group.snapshotCount++;
    } else {
      d.hostAt[i] = parts.at2 + 1;
      member[i] = 2 * g + 1;
      group.markerCount++;
    }
  }
  return { member, groups };
}

function nowInZone(now: Date, timeZone: string | undefined): number {
  try {
    return wallClockMsIn(now, timeZone);
  } catch (error) {
    throw new InvalidTimeZoneError(String(timeZone), { cause: error });
  }
}

/** Where `name`, of time `time`, is in `sorted`, or -1. */
function find(sorted: Sorted, names: readonly string[], time: number, name: string): number {
  const { wall, indexes } = sorted;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (wall[mid]! < time) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; k < sorted.length && wall[k] === time; k++) {
    if (names[indexes[k]!] === name) return k;
  }
  return -1;
}

/**
 * The names of `indexes` (in input order) oldest first, ties in name order, each name once:
 * a repeated name is marked DUPLICATE and left out, so its first occurrence is the one decided.
 */
function oldestFirst(
  d: Decisions,
  names: readonly string[],
  wall: Float64Array,
  indexes: Int32Array,
): Sorted {
  const m = indexes.length;
  let times = new Float64Array(m);
  let sorted = true;
  for (let k = 0; k < m; k++) {
    const t = wall[indexes[k]!]!;
    times[k] = t;
    if (k > 0 && sorted) {
      const previous = times[k - 1]!;
      sorted = previous < t || (previous === t && names[indexes[k - 1]!]! <= names[indexes[k]!]!);
    }
  }
  let order = indexes;
  if (!sorted) {
    const permutation = sortPermutation(times, names, indexes);
    order = new Int32Array(m);
    const sortedTimes = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const p = permutation[k]!;
      order[k] = indexes[p]!;
      sortedTimes[k] = times[p]!;
    }
    times = sortedTimes;
  }
  let length = 0;
  for (let k = 0; k < m; k++) {
    const i = order[k]!;
    if (length > 0 && times[length - 1] === times[k] && names[order[length - 1]!] === names[i]) {
      d.reason[i] = DUPLICATE;
      continue;
    }
    order[length] = i;
    times[length] = times[k]!;
    length++;
  }
  return { indexes: order, wall: times, length };
}

/** Below this many names a comparator sort beats the radix sort's fixed costs. */
const RADIX_MIN = 256;

/**
 * Positions 0..m-1 of `times` (integers: wall-clock ms) ordered by time, equal times by name,
 * equal names in input order. Large lists go through a stable bucket sort (or, when times
 * bunch up, an LSD radix sort on the time since the oldest, below 2^49 for years 1-9999), then
 * runs of equal times are sorted by name.
 */
function sortPermutation(
  times: Float64Array,
  names: readonly string[],
  indexes: Int32Array,
): Int32Array {
  const m = times.length;
  const byTime = (a: number, b: number): number =>
    times[a]! - times[b]! ||
    (names[indexes[a]!]! < names[indexes[b]!]!
      ? -1
      : names[indexes[a]!]! > names[indexes[b]!]!
        ? 1
        : 0);
  if (m < RADIX_MIN) {
    const permutation = new Int32Array(m);
    for (let k = 0; k < m; k++) permutation[k] = k;
    // TypedArray sort is stable (ES2019 and later), so equal names stay in input order.
    return permutation.sort(byTime);
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < m; k++) {
    const t = times[k]!;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  const permutation = bucketPermutation(times, min, max) ?? radixPermutation(times, min, max);
  // Equal times came out in input order; name order makes the result independent of it.
  for (let k = 0; k < m; ) {
    const t = times[permutation[k]!]!;
    let j = k + 1;
    while (j < m && times[permutation[j]!] === t) j++;
    if (j - k > 1) {
      const run = permutation.slice(k, j).sort(byTime);
      permutation.set(run, k);
    }
    k = j;
  }
  return permutation;
}

/** Largest bucket bucketPermutation sorts by insertion; past it, its cost would grow as a square. */
const BUCKET_MAX = 64;

/**
 * Like radixPermutation, in one scatter instead of three or four: positions go to one of about
 * m buckets of equal time ranges (in input order), then an insertion sort orders each bucket
 * (a position never leaves its bucket: bucket order is time order). Times spread over their
 * range, as snapshot times are, leave a few per bucket. Undefined when a bucket is too full
 * (e.g. one very old snapshot squeezing all the others into one bucket).
 */
function bucketPermutation(times: Float64Array, min: number, max: number): Int32Array | undefined {
  const m = times.length;
  let size = 256;
  while (size < m) size *= 2;
  // A product by a positive constant, then floor, never decreases: later times, later buckets.
  const scale = size / (max - min + 1);
  const bucket = new Int32Array(m);
  // count[b + 1] counts bucket b; the prefix sums below make count[b] where bucket b starts.
  const count = new Int32Array(size + 1);
  for (let k = 0; k < m; k++) {
    const b = Math.min(size - 1, Math.floor((times[k]! - min) * scale));
    bucket[k] = b;
    count[b + 1]!++;
  }
  for (let b = 0; b < size; b++) {
    if (count[b + 1]! > BUCKET_MAX) return undefined;
    count[b + 1]! += count[b]!;
  }
  const out = new Int32Array(m);
  for (let k = 0; k < m; k++) out[count[bucket[k]!]!++] = k;
  // Stable: a position only passes strictly later times, so equal times keep input order.
  for (let k = 1; k < m; k++) {
    const p = out[k]!;
    const t = times[p]!;
    let j = k - 1;
    while (j >= 0 && times[out[j]!]! > t) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = p;
  }
  return out;
}

const TWO_32 = 4_294_967_296;

/**
 * Stable LSD radix sort of positions by `times` (integers from `min` to `max`); returns the
 * positions in order.
 */
function radixPermutation(times: Float64Array, min: number, max: number): Int32Array {
  const m = times.length;
  // Keys are times since the oldest, split into 32-bit halves so digits come from bit shifts.
  const span = max - min;
  let bits = 0;
  while (bits < 53 && 2 ** bits <= span) bits++;
  const lo = new Uint32Array(m);
  const hi = new Uint32Array(m);
  for (let k = 0; k < m; k++) {
    const key = times[k]! - min;
    const high = Math.floor(key / TWO_32);
    hi[k] = high;
    lo[k] = key - high * TWO_32;
  }
  // Digits of about log2(m) bits (8 to 16), as few passes as that allows.
  let width = 8;
  while (width < 16 && 2 ** width < m) width++;
  const passes = Math.ceil(bits / width);
  if (passes > 0) width = Math.ceil(bits / passes);
  const mask = 2 ** width - 1;
  const digit = new Uint16Array(m);
  const count = new Int32Array(mask + 1);
  let from = new Int32Array(m);
  for (let k = 0; k < m; k++) from[k] = k;
  let to = new Int32Array(m);
  for (let pass = 0; pass < passes; pass++) {
    const shift = pass * width;
    count.fill(0);
    for (let k = 0; k < m; k++) {
      const value =
        shift >= 32
          ? (hi[k]! >>> (shift - 32)) & mask
          : shift === 0
            ? lo[k]! & mask
            : ((lo[k]! >>> shift) | (hi[k]! << (32 - shift))) & mask;
      digit[k] = value;
      count[value]!++;
    }
    // Every key has the same digit here: this pass would not move anything.
    if (count[digit[0]!] === m) continue;
    let total = 0;
    for (let v = 0; v <= mask; v++) {
      const c = count[v]!;
      count[v] = total;
      total += c;
    }
    for (let k = 0; k < m; k++) {
      const p = from[k]!;
      to[count[digit[p]!]!++] = p;
    }
    const swap = from;
    from = to;
    to = swap;
  }
  return from;
}

/**
 * Only the newest marker per (volume, host) is needed, and the snapshot it records is the
 * parent of the next incremental send: keep both, purge superseded markers. Returns the newest.
 */
function decideMarkers(d: Decisions, names: readonly string[], markers: Sorted): number[] {
  const newest = new Map<string, number>();
  // Oldest first, so the last one seen per host is the newest.
  for (let k = 0; k < markers.length; k++) {
    const i = markers.indexes[k]!;
    const host = names[i]!.slice(d.hostAt[i]!);
    const previous = newest.get(host);
    if (previous !== undefined) {
      d.purge[previous] = 1;
      d.reason[previous] = SUPERSEDED_MARKER;
    }
    newest.set(host, i);
    d.reason[i] = NEWEST_MARKER;
  }
  for (const [host, i] of newest) {
    const parent = names[i]!.slice(0, d.hostAt[i]! - 1);
    const hosts = d.parents.get(parent);
    if (hosts) hosts.push(host);
    else d.parents.set(parent, [host]);
  }
  return [...newest.values()];
}

/**
 * 3.x's compute_purges, on one volume's snapshots sorted oldest first. Ages are whole seconds
 * (3.x: int(total_seconds) / 60 minutes); comparing seconds with items × 60 is the same test
 * without floats. The pattern, largest first, makes segments (hi, lo) of consecutive items.
 * A snapshot is in a segment when lo <= age <= hi (both ends: a snapshot exactly on an item is
 * in two segments), and a segment whose hi is the largest item also holds everything older.
 * In a segment, an age's window is floor(age / lo); walking oldest first, a snapshot is purged
 * when it is older than the largest item or its window equals the previous one's (even if that
 * previous one was purged for being too old). It is purged if any segment purges it.
 */
function decideSnapshots(d: Decisions, snapshots: Sorted, nowWall: number): void {
  const items = d.items;
  const maxSec = items[0]!.minutes * 60;
  const minSec = items[items.length - 1]!.minutes * 60;
  const m = snapshots.length;
  const indexes = snapshots.indexes;
  const wall = snapshots.wall;
  const seconds = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const diff = nowWall - wall[k]!;
    const sec = Math.trunc(diff / 1000);
    seconds[k] = sec;
    if (sec < minSec) d.reason[indexes[k]!] = diff < 0 ? FUTURE : YOUNG;
  }
  // One item (3.13): keep what is not older than it, purge the rest.
  if (items.length === 1) {
    for (let k = 0; k < m; k++) {
      const i = indexes[k]!;
      if (seconds[k]! > maxSec) {
        d.purge[i] = 1;
        d.reason[i] = TOO_OLD;
      } else if (d.reason[i] === UNDECIDED) d.reason[i] = YOUNG;
    }
  }
  for (let s = 0; s + 1 < items.length; s++) {
    const hiSec = items[s]!.minutes * 60;
    const loSec = items[s + 1]!.minutes * 60;
    const capped = hiSec < maxSec;
    let last = -1;
    let opener = -1;
    for (let k = 0; k < m; k++) {
      const sec = seconds[k]!;
      if (sec < loSec || (capped && sec > hiSec)) continue;
      const i = indexes[k]!;
      const window = Math.floor(sec / loSec);
      const same = window === last;
      last = window;
      if (!same) opener = i;
      if (sec > maxSec) {
        if (!d.purge[i]) {
          d.purge[i] = 1;
          d.reason[i] = TOO_OLD;
        }
      } else if (same) {
        if (!d.purge[i]) {
          d.purge[i] = 1;
          d.reason[i] = SAME_WINDOW;
          d.segment[i] = s;
          d.opener[i] = opener;
        }
      } else if (d.reason[i] === UNDECIDED) {
        d.reason[i] = WINDOW;
        d.segment[i] = s;
      }
    }
  }
}

/**
 * A calendar policy on one volume's snapshots, oldest first. For each unit with a count, walk
 * newest first: the first snapshot met in a bucket within the last `count` buckets (the
 * current one included) is its keeper. Kept by any unit means kept; younger than min= is kept.
 * Buckets are read from wall-clock times (names hold local wall-clock time), so an hour or a
 * day is the one on the clock, across DST changes too.
 */
function decideCalendar(
  d: Decisions,
  policy: CalendarPolicy,
  snapshots: Sorted,
  nowWall: number,
): void {
  const { indexes, wall } = snapshots;
  const m = snapshots.length;
  // Future snapshots sort last: the walk starts below them.
  let top = m;
  while (top > 0 && wall[top - 1]! > nowWall) {
    top--;
    d.reason[indexes[top]!] = FUTURE;
  }
  for (let k = top - 1; k >= 0 && nowWall - wall[k]! < policy.minAgeMs; k--) {
    d.reason[indexes[k]!] = CAL_YOUNG;
  }
  const ws = policy.weekStart;
  for (let unit = 0; unit < CALENDAR_UNITS.length; unit++) {
    const count = policy.counts[unit]!;
    if (count === 0) continue;
    const current = bucketOf(unit, nowWall, ws);
    let last = Number.NaN;
    let keeper = -1;
    let bucket = 0;
    // Where `bucket` starts: until a time falls below it, the bucket is the same one, so a
    // snapshot costs one comparison, not a division or a civil-date conversion.
    let start = Number.POSITIVE_INFINITY;
    for (let k = top - 1; k >= 0; k--) {
      const w = wall[k]!;
      if (w < start) {
        bucket = bucketOf(unit, w, ws);
        start = bucketStart(unit, bucket, ws);
        // Sorted by time, so buckets only decrease from here on.
        if (current - bucket >= count) break;
      }
      const i = indexes[k]!;
      const reason = d.reason[i];
      if (bucket === last) {
        if (reason === UNDECIDED) {
          d.reason[i] = CAL_NOT_NEWEST;
          d.segment[i] = unit;
          d.opener[i] = keeper;
        }
        continue;
      }
      last = bucket;
      keeper = i;
      if (reason === UNDECIDED || reason === CAL_NOT_NEWEST) {
        d.reason[i] = CAL_KEPT;
        d.segment[i] = unit;
      }
    }
  }
  for (let k = 0; k < top; k++) {
    const i = indexes[k]!;
    const reason = d.reason[i];
    if (reason === UNDECIDED) d.reason[i] = CAL_OUTSIDE;
    if (reason === UNDECIDED || reason === CAL_NOT_NEWEST) d.purge[i] = 1;
  }
}

function describe(d: Decisions, names: readonly string[], i: number): string {
  const items = d.items;
  const s = d.segment[i]!;
  switch (d.reason[i]) {
    case NO_TIMESTAMP:
      return 'kept: name has no timestamp';
    case YOUNG:
      return `kept: younger than ${items[items.length - 1]!.text}`;
    case FUTURE:
      return 'kept: dated in the future';
    case WINDOW: {
      const lo = items[s + 1]!.text;
      return `kept: oldest in its ${lo} window between ${lo} and ${items[s]!.text}`;
    }
    case NEWEST_MARKER:
      return `kept: newest send marker for ${host(d, names, i)}`;
    case SEND_PARENT:
      return `kept: parent of the next incremental send to ${d.parents.get(names[i]!)!.join(', ')}`;
    case TOO_OLD:
      return `purged: older than ${items[0]!.text}`;
    case SAME_WINDOW: {
      const lo = items[s + 1]!.text;
      const opener = d.opener[i]!;
      // 3.x also counts a window's first snapshot when another segment purged it.
      return d.purge[opener]
        ? `purged: ${names[opener]} comes first in its ${lo} window`
        : `purged: another snapshot already kept in its ${lo} window`;
    }
    case NEWEST:
      return 'kept: the newest snapshot of its volume (a purge never deletes it)';
    case SUPERSEDED_MARKER:
      return `purged: superseded send marker for ${host(d, names, i)}`;
    case CAL_YOUNG:
      return `kept: younger than ${d.calendar!.minAgeText}`;
    case CAL_KEPT:
      return `kept: newest of ${label(d, s, d.wall[i]!)} (${CALENDAR_UNITS[s]})`;
    case CAL_NOT_NEWEST: {
      const keeper = d.opener[i]!;
      return `purged: ${names[keeper]} is the newest of ${label(d, s, d.wall[i]!)} (${CALENDAR_UNITS[s]})`;
    }
    case CAL_OUTSIDE:
      return `purged: in no period that ${d.calendar!.text} keeps`;
    default:
      throw new Error(`retention: no reason recorded for ${JSON.stringify(names[i])}`);
  }
}

function label(d: Decisions, unit: number, wall: number): string {
  return bucketLabel(unit, wall, d.calendar!.weekStart);
}

function host(d: Decisions, names: readonly string[], i: number): string {
  return names[i]!.slice(d.hostAt[i]!);
}
