// Pure parsers for btrfs-progs output. Kept free of I/O so they are unit-tested on captured text.
import type { QuotaInfo, SubvolumeInfo } from './types.js';

/** Fields of `btrfs subvolume show` as "Key: value" pairs (the first line is the path). */
function showFields(stdout: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^\s+([A-Za-z][A-Za-z ()]*?):\s*(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) fields.set(match[1], match[2].trim());
  }
  return fields;
}

function uuidOrUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '-' || value === '' ? undefined : value;
}

/** `2026-11-26 14:06:35 +0000` (btrfs-progs' format) to a Date. */
export function parseBtrfsTime(value: string | undefined): Date | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})$/.exec(value ?? '');
  if (!match) return undefined;
  const date = new Date(`${match[1]}T${match[2]}${match[3]}:${match[4]}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Parses `btrfs subvolume show <path>`; throws when a field we rely on is missing. */
export function parseSubvolumeShow(stdout: string, path: string): SubvolumeInfo {
  const fields = showFields(stdout);
  const uuid = uuidOrUndefined(fields.get('UUID'));
  const id = Number(fields.get('Subvolume ID'));
  const generation = Number(fields.get('Generation'));
  const generationAtCreation = Number(fields.get('Gen at creation'));
  if (
    uuid === undefined ||
    !Number.isSafeInteger(id) ||
    !Number.isSafeInteger(generation) ||
    !Number.isSafeInteger(generationAtCreation)
  ) {
    throw new Error(`unexpected 'btrfs subvolume show' output for ${path}:\n${stdout}`);
  }
  const flags = (fields.get('Flags') ?? '').split(/[\s,|]+/);
  return {
    path,
    uuid,
    parentUuid: uuidOrUndefined(fields.get('Parent UUID')),
    receivedUuid: uuidOrUndefined(fields.get('Received UUID')),
    readonly: flags.includes('readonly'),
    generation,
    generationAtCreation,
    creationTime: parseBtrfsTime(fields.get('Creation time')),
    id,
  };
}

function bytesOrUndefined(value: string | undefined): number | undefined {
  if (value === undefined || value === 'none') return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Parses `btrfs qgroup show -re --raw -f <path>`: the subvolume's own level-0 qgroup row
 * (`0/<id>`). With `id` given, only that qgroup's row is accepted.
 */
export function parseQgroupShow(stdout: string, id?: number): QuotaInfo | undefined {
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const qgroup = cols[0] ?? '';
    if (!/^0\/\d+$/.test(qgroup)) continue;
    if (id !== undefined && qgroup !== `0/${id}`) continue;
    const referenced = bytesOrUndefined(cols[1]);
    const exclusive = bytesOrUndefined(cols[2]);
    if (referenced === undefined || exclusive === undefined) continue;
    return { referenced, exclusive, limit: bytesOrUndefined(cols[3]) };
  }
  return undefined;
}

/** The subvolume named by btrfs receive's "At subvol X" / "At snapshot X" line. */
export function parseReceived(stderr: string): string | undefined {
  let received: string | undefined;
  for (const line of stderr.split('\n')) {
    const match = /^At (?:subvol|snapshot) (.+)$/.exec(line.trimEnd());
    // A stream may hold several subvolumes; the last one is what the receive ended with.
    if (match?.[1] !== undefined) received = match[1];
  }
  return received;
}

/** What `lsattr -d` shows of a btrfs file or folder. */
export interface FileAttributes {
  /** No_COW (`chattr +C`). */
  nocow: boolean;
  /**
   * `c`: btrfs sets it with the compression property (and sets the property with `chattr +c`),
   * so without it the property is unset or `none`.
   */
  compressed: boolean;
}

function attributesOf(flags: string): FileAttributes {
  return { nocow: flags.includes('C'), compressed: flags.includes('c') };
}

/** True when `lsattr -d` output shows the No_COW (`C`) attribute. */
export function parseLsattrNocow(stdout: string): boolean {
  return parseLsattr(stdout).nocow;
}

/** One path's `lsattr -d` output. */
export function parseLsattr(stdout: string): FileAttributes {
  const flags = stdout.trimStart().split(/\s/, 1)[0] ?? '';
  if (!/^[A-Za-z-]+$/.test(flags)) throw new Error(`unexpected lsattr output: ${stdout}`);
  return attributesOf(flags);
}

/** One line of `btrfs subvolume list -a -s`: a snapshot and its creation time. */
export interface ListedSnapshot {
  /** Subvolume id (qgroup 0/<id>). */
  id: number;
  /** Path relative to the filesystem's top level (subvolid 5), without `<FS_TREE>/`. */
  path: string;
  /** otime, to the second; undefined when btrfs has none (printed as `-`). */
  otime: Date | undefined;
}

// `ID 258 gen 7 cgen 7 top level 256 otime 2026-11-26 15:08:52 path volumes/b c`. The lazy
// middle keeps us working if btrfs-progs adds columns, and stops at the first " otime ", which
// is the column (a path containing " otime " comes after it).
const SNAPSHOT_LINE = /^ID (\d+) .*? otime (-|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) path (.*)$/;
// With -a, subvolumes that are not direct children of the listed path's subvolume get this
// prefix; the rest of every path is relative to the top level either way.
const FS_TREE_PREFIX = '<FS_TREE>/';

/**
 * Parses `btrfs subvolume list -a -s` run with TZ=UTC (btrfs-progs prints otime in local time,
 * which is ambiguous in the hour a DST change repeats).
 */
export function parseSnapshotList(stdout: string): ListedSnapshot[] {
  return parseListLines(stdout, SNAPSHOT_LINE, (match) => {
    const otime = match[2] === '-' ? undefined : new Date(`${match[2]?.replace(' ', 'T')}Z`);
    return {
      id: Number(match[1]),
      path: match[3] ?? '',
      otime: otime === undefined || Number.isNaN(otime.getTime()) ? undefined : otime,
    };
  });
}

/** One line of `btrfs subvolume list`: a subvolume and the one it sits in. */
export interface ListedSubvolume {
  id: number;
  /** Id of the subvolume holding this one ("top level"; 5 for the filesystem's top level). */
  parentId: number;
  /** Path relative to the filesystem's top level (subvolid 5), without `<FS_TREE>/`. */
  path: string;
}

// `ID 257 gen 7 top level 256 path volumes/v/inner`; the lazy middle as above.
const SUBVOLUME_LINE = /^ID (\d+) .*?top level (\d+) path (.*)$/;

/** Parses `btrfs subvolume list [-a]`: every subvolume of the filesystem. */
export function parseSubvolumeList(stdout: string): ListedSubvolume[] {
  return parseListLines(stdout, SUBVOLUME_LINE, (match) => ({
    id: Number(match[1]),
    parentId: Number(match[2]),
    path: match[3] ?? '',
  }));
}

/**
 * The lines of a `btrfs subvolume list` that `line` matches, built into entries. A line that
 * does not start a new entry continues the previous path: the name contained a newline.
 */
function parseListLines<T extends { path: string }>(
  stdout: string,
  line: RegExp,
  build: (match: RegExpExecArray) => T,
): T[] {
  const entries: T[] = [];
  const text = stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  for (const row of text === '' ? [] : text.split('\n')) {
    const match = line.exec(row);
    if (!match) {
      const last = entries.at(-1);
      if (last !== undefined) last.path += `\n${row}`;
      continue;
    }
    entries.push(build(match));
  }
  for (const entry of entries) {
    if (entry.path.startsWith(FS_TREE_PREFIX)) entry.path = entry.path.slice(FS_TREE_PREFIX.length);
  }
  return entries;
}

/**
 * Parses `lsattr -d a b c`: `<flags> <path>` a line, path as given. Lines that do not look like
 * that (a path with a newline in it) are skipped: such paths are queried one at a time.
 */
export function parseLsattrBatch(stdout: string): Map<string, FileAttributes> {
  const flags = new Map<string, FileAttributes>();
  for (const line of stdout.split('\n')) {
    // The flags column is fixed-width, '-' for each flag not set.
    const match = /^([A-Za-z-]*-[A-Za-z-]*) (.+)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) {
      flags.set(match[2], attributesOf(match[1]));
    }
  }
  return flags;
}
