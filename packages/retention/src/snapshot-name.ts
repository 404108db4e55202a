import { UnsupportedFormatError } from './errors.js';
import {
  type CompiledFormat,
  compileFormat,
  DEFAULT_TIMESTAMP_FORMAT,
  parseTimestamp,
} from './timestamp.js';

/** A snapshot `<volume>@<ts>`, or a send marker `<volume>@<ts>@<host>` when `host` is set. */
export interface ParsedSnapshotName {
  readonly name: string;
  readonly volume: string;
  readonly timestamp: Date;
  readonly host?: string;
}

/**
 * Reads a snapshot or marker name. Anything else (no `@`, an empty part, a timestamp that does
 * not match the format exactly, more than two `@`) gives undefined: such a name is never purged.
 */
export function parseSnapshotName(
  name: string,
  format: string = DEFAULT_TIMESTAMP_FORMAT,
): ParsedSnapshotName | undefined {
  compileNameFormat(format);
  const parts = splitName(name);
  if (!parts) return undefined;
  const timestamp = parseTimestamp(name.slice(parts.at1 + 1, parts.at2), format);
  if (!timestamp) return undefined;
  const volume = name.slice(0, parts.at1);
  if (parts.at2 === name.length) return { name, volume, timestamp };
  return { name, volume, timestamp, host: name.slice(parts.at2 + 1) };
}

/** Like compileFormat, but the format must not hold `@`, which separates a name's parts. */
export function compileNameFormat(format: string): CompiledFormat {
  const compiled = compileFormat(format);
  if (format.includes('@')) {
    throw new UnsupportedFormatError(format, '"@" separates the parts of a snapshot name');
  }
  return compiled;
}

/** Where the name's `@`s are: the timestamp is `name.slice(at1 + 1, at2)`; at2 = length if none. */
export interface NameSplit {
  at1: number;
  at2: number;
}

const split: NameSplit = { at1: 0, at2: 0 };

/**
 * Finds the `@`s without allocating (the hot path reads 100,000 names). The returned record is
 * reused by the next call. Undefined when a part is empty or there are more than two `@`.
 */
export function splitName(name: string): NameSplit | undefined {
  if (typeof name !== 'string') return undefined;
  const at1 = name.indexOf('@');
  if (at1 <= 0) return undefined;
  const second = name.indexOf('@', at1 + 1);
  if (second === -1) {
    split.at1 = at1;
    split.at2 = name.length;
    return split;
  }
  if (second === name.length - 1 || name.indexOf('@', second + 1) !== -1) return undefined;
  split.at1 = at1;
  split.at2 = second;
  return split;
}
