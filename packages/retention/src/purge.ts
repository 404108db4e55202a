import { InvalidDateError } from './errors.js';
import { parsePattern, type RetentionItem, type RetentionPattern } from './pattern.js';
import { compileNameFormat, splitName } from './snapshot-name.js';
import { DEFAULT_TIMESTAMP_FORMAT, readWallClockMs, wallClockMs } from './timestamp.js';

export interface PurgeOptions {
  /** strftime format of the timestamps in the names (3.x's DTFORMAT). */
  readonly format?: string;
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
  /** In words, e.g. "kept: oldest in its 1d window between 1d and 2w". */
  readonly reason: string;
}

/** Which names a pattern purges at `now`. Names may belong to several volumes. */
export function planPurge(
  names: readonly string[],
  pattern: RetentionPattern | string,
  now: Date,
  options: PurgeOptions = {},
): PurgePlan {
  const d = decide(names, pattern, now, options);
  const purge: string[] = [];
  const keep: string[] = [];
  for (let i = 0; i < names.length; i++) {
    if (d.reason[i] === DUPLICATE) continue;
    (d.purge[i] ? purge : keep).push(names[i]!);
  }
  return { purge, keep };
}

/** Same decisions as planPurge, with the reason for each name, in input order. */
export function explainPurge(
  names: readonly string[],
  pattern: RetentionPattern | string,
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

interface Decisions {
  /** Pattern items, largest first, as 3.x walks them. */
  readonly items: readonly RetentionItem[];
  readonly purge: Uint8Array;
  readonly reason: Uint8Array;
  /** For WINDOW and SAME_WINDOW: the segment (index into items of its upper bound). */
  readonly segment: Int32Array;
  /** For SAME_WINDOW: the snapshot that opened the window. */
  readonly opener: Int32Array;
  /** For markers: where the host starts in the name. */
  readonly hostAt: Int32Array;
  /** Snapshot name → hosts whose next incremental send uses it as parent. */
  readonly parents: Map<string, string[]>;
}

const RECENT_VOLUMES = 8;

interface Group {
  readonly volume: string;
  readonly snapshots: number[];
  readonly markers: number[];
}

function decide(
  names: readonly string[],
  pattern: RetentionPattern | string,
  now: Date,
  options: PurgeOptions,
): Decisions {
  const compiled = compileNameFormat(options.format ?? DEFAULT_TIMESTAMP_FORMAT);
  const checked = typeof pattern === 'string' ? parsePattern(pattern) : pattern;
  if (Number.isNaN(now.getTime())) throw new InvalidDateError(now);
  const n = names.length;
  const d: Decisions = {
    items: [...checked.items].reverse(),
    purge: new Uint8Array(n),
    reason: new Uint8Array(n),
    segment: new Int32Array(n),
    opener: new Int32Array(n),
    hostAt: new Int32Array(n),
    parents: new Map(),
  };
  const wall = new Float64Array(n);
  const groups = new Map<string, Group>();
  let unparsed: Set<string> | undefined;
  const recent: Group[] = [];

  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const parts = splitName(name);
    const ms = parts ? readWallClockMs(compiled, name, parts.at1 + 1, parts.at2) : Number.NaN;
    if (!parts || Number.isNaN(ms)) {
      unparsed ??= new Set();
      d.reason[i] = unparsed.has(name) ? DUPLICATE : NO_TIMESTAMP;
      unparsed.add(name);
      continue;
    }
    wall[i] = ms;
    // Few volumes, many snapshots each: find the group among the last few volumes seen before
    // paying for a slice and a hash lookup.
    let group: Group | undefined;
    for (let r = 0; r < recent.length; r++) {
      const candidate = recent[r]!;
      if (candidate.volume.length === parts.at1 && name.startsWith(candidate.volume)) {
        group = candidate;
        break;
      }
    }
    if (!group) {
      const volume = name.slice(0, parts.at1);
      group = groups.get(volume);
      if (!group) {
        group = { volume, snapshots: [], markers: [] };
        groups.set(volume, group);
      }
      if (recent.length === RECENT_VOLUMES) recent.pop();
      recent.unshift(group);
    }
    if (parts.at2 === name.length) {
      group.snapshots.push(i);
    } else {
      d.hostAt[i] = parts.at2 + 1;
      group.markers.push(i);
    }
  }

  const byTime = (a: number, b: number): number =>
    wall[a]! - wall[b]! || (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0);
  const seconds = new Float64Array(n);
  const nowWall = wallClockMs(now);
  for (const group of groups.values()) {
    decideMarkers(d, names, dedupe(d, names, wall, group.markers, byTime));
    const snapshots = dedupe(d, names, wall, group.snapshots, byTime);
    decideSnapshots(d, snapshots, wall, seconds, nowWall);
  }
  if (d.parents.size > 0) {
    for (const group of groups.values()) {
      for (const i of group.snapshots) {
        if (d.reason[i] === DUPLICATE || !d.parents.has(names[i]!)) continue;
        d.purge[i] = 0;
        d.reason[i] = SEND_PARENT;
      }
    }
  }
  return d;
}

/** Sorts oldest first (sorting only when needed) and marks repeated names. */
function dedupe(
  d: Decisions,
  names: readonly string[],
  wall: Float64Array,
  indexes: number[],
  byTime: (a: number, b: number) => number,
): number[] {
  let sorted = true;
  for (let k = 1; k < indexes.length && sorted; k++) {
    sorted = byTime(indexes[k - 1]!, indexes[k]!) <= 0;
  }
  if (!sorted) sortOldestFirst(indexes, wall, byTime);
  let m = 0;
  for (let k = 0; k < indexes.length; k++) {
    const i = indexes[k]!;
    const previous = m > 0 ? indexes[m - 1]! : -1;
    if (previous >= 0 && wall[previous] === wall[i] && names[previous] === names[i]) {
      d.reason[i] = DUPLICATE;
      continue;
    }
    indexes[m++] = i;
  }
  indexes.length = m;
  return indexes;
}

/**
 * A numeric Float64Array sort is several times faster than a comparator sort, so when the keys
 * allow it, pack (time, position) into one exact integer per snapshot and sort those.
 */
function sortOldestFirst(
  indexes: number[],
  wall: Float64Array,
  byTime: (a: number, b: number) => number,
): void {
  const m = indexes.length;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const i of indexes) {
    const w = wall[i]!;
    if (w < min) min = w;
    if (w > max) max = w;
  }
  if ((max - min + 1) * m > Number.MAX_SAFE_INTEGER) {
    indexes.sort(byTime);
    return;
  }
  const keys = new Float64Array(m);
  for (let k = 0; k < m; k++) keys[k] = (wall[indexes[k]!]! - min) * m + k;
  keys.sort();
  const original = indexes.slice();
  for (let k = 0; k < m; k++) indexes[k] = original[keys[k]! % m]!;
  // Equal times came out in input order; name order makes the result independent of it.
  for (let k = 0; k < m; ) {
    let j = k + 1;
    while (j < m && wall[indexes[j]!] === wall[indexes[k]!]) j++;
    if (j - k > 1) {
      const run = indexes.slice(k, j).sort(byTime);
      for (let r = 0; r < run.length; r++) indexes[k + r] = run[r]!;
    }
    k = j;
  }
}

/**
 * Only the newest marker per (volume, host) is needed, and the snapshot it records is the
 * parent of the next incremental send: keep both, purge superseded markers.
 */
function decideMarkers(d: Decisions, names: readonly string[], markers: readonly number[]): void {
  const newest = new Map<string, number>();
  // Oldest first, so the last one seen per host is the newest.
  for (const i of markers) {
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
function decideSnapshots(
  d: Decisions,
  snapshots: readonly number[],
  wall: Float64Array,
  seconds: Float64Array,
  nowWall: number,
): void {
  const items = d.items;
  const maxSec = items[0]!.minutes * 60;
  const minSec = items[items.length - 1]!.minutes * 60;
  const m = snapshots.length;
  for (let k = 0; k < m; k++) {
    const i = snapshots[k]!;
    const diff = nowWall - wall[i]!;
    const sec = Math.trunc(diff / 1000);
    seconds[k] = sec;
    if (sec < minSec) d.reason[i] = diff < 0 ? FUTURE : YOUNG;
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
      const i = snapshots[k]!;
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
    case SUPERSEDED_MARKER:
      return `purged: superseded send marker for ${host(d, names, i)}`;
    default:
      throw new Error(`retention: no reason recorded for ${JSON.stringify(names[i])}`);
  }
}

function host(d: Decisions, names: readonly string[], i: number): string {
  return names[i]!.slice(d.hostAt[i]!);
}
