import { DEFAULT_TIMESTAMP_FORMAT, formatTimestamp, parseTimestamp } from '@buttervolume/retention';
import { InvalidNameError } from './errors.js';
import { HostName } from './host.js';
import { VolumeName } from './volume.js';

/** `<volume>@<timestamp>`: a read-only snapshot of a volume. */
export type SnapshotName = string & { readonly __brand: 'SnapshotName' };
/** `<volume>@<timestamp>@<host>`: records that `<host>` holds `<volume>@<timestamp>`. */
export type MarkerName = string & { readonly __brand: 'MarkerName' };

export interface NameFormat {
  /** strftime-style timestamp format (COMPAT's DTFORMAT). */
  format?: string;
}

export interface SnapshotParts {
  volume: VolumeName;
  /** The timestamp text as it stands in the name. */
  stamp: string;
  timestamp: Date;
}

const MAX_FILE_NAME = 255;

function parseParts(raw: string, kind: 'snapshot' | 'marker', format: string): SnapshotParts {
  const at = raw.indexOf('@');
  const stamp = raw.slice(at + 1);
  const timestamp = at > 0 ? parseTimestamp(stamp, format) : undefined;
  const volume = raw.slice(0, at);
  if (at <= 0 || !VolumeName.is(volume) || timestamp === undefined) {
    throw new InvalidNameError(
      kind,
      raw,
      `expected <volume>@<timestamp> with timestamp format ${format}`,
    );
  }
  return { volume, stamp, timestamp };
}

export const SnapshotName = {
  parse(raw: unknown, options: NameFormat = {}): SnapshotName {
    const format = options.format ?? DEFAULT_TIMESTAMP_FORMAT;
    if (typeof raw !== 'string' || raw.length > MAX_FILE_NAME) {
      throw new InvalidNameError('snapshot', raw, 'expected <volume>@<timestamp>');
    }
    parseParts(raw, 'snapshot', format);
    return raw as SnapshotName;
  },
  is(raw: unknown, options: NameFormat = {}): raw is SnapshotName {
    try {
      SnapshotName.parse(raw, options);
      return true;
    } catch {
      return false;
    }
  },
  /** A new snapshot name for `volume` at `date`. */
  of(volume: VolumeName, date: Date, options: NameFormat = {}): SnapshotName {
    return `${volume}@${formatTimestamp(date, options.format ?? DEFAULT_TIMESTAMP_FORMAT)}` as SnapshotName;
  },
  split(name: SnapshotName, options: NameFormat = {}): SnapshotParts {
    return parseParts(name, 'snapshot', options.format ?? DEFAULT_TIMESTAMP_FORMAT);
  },
};

export const MarkerName = {
  parse(raw: unknown, options: NameFormat = {}): MarkerName {
    const format = options.format ?? DEFAULT_TIMESTAMP_FORMAT;
    const at = typeof raw === 'string' ? raw.lastIndexOf('@') : -1;
    if (typeof raw !== 'string' || raw.length > MAX_FILE_NAME || at <= 0) {
      throw new InvalidNameError('marker', raw, 'expected <volume>@<timestamp>@<host>');
    }
    parseParts(raw.slice(0, at), 'marker', format);
    if (!HostName.is(raw.slice(at + 1))) {
      throw new InvalidNameError('marker', raw, 'expected <volume>@<timestamp>@<host>');
    }
    return raw as MarkerName;
  },
  /**
   * A marker as found in SNAPSHOTS_PATH. 3.x wrote whatever host the user typed (an ssh_config
   * alias such as `my_backup`), which today's host rule refuses; such a marker is still a
   * `<snapshot>@<host>` entry that purge and rm must handle. The host part only has to be a
   * plain word (letters, digits, `_ . -`, not starting with `-` or `.`); nothing sends to it.
   */
  parseStored(raw: unknown, options: NameFormat = {}): MarkerName {
    if (MarkerName.is(raw, options)) return raw;
    const format = options.format ?? DEFAULT_TIMESTAMP_FORMAT;
    const at = typeof raw === 'string' ? raw.lastIndexOf('@') : -1;
    const hostPart = typeof raw === 'string' ? raw.slice(at + 1) : '';
    if (
      typeof raw !== 'string' ||
      raw.length > MAX_FILE_NAME ||
      at <= 0 ||
      !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(hostPart)
    ) {
      throw new InvalidNameError('marker', raw, 'expected <volume>@<timestamp>@<host>');
    }
    parseParts(raw.slice(0, at), 'marker', format);
    return raw as MarkerName;
  },
  is(raw: unknown, options: NameFormat = {}): raw is MarkerName {
    try {
      MarkerName.parse(raw, options);
      return true;
    } catch {
      return false;
    }
  },
  /** The marker recording that `host` holds `snapshot`; throws if it would not fit a file name. */
  of(snapshot: SnapshotName, host: HostName): MarkerName {
    const marker = `${snapshot}@${host}`;
    if (marker.length > MAX_FILE_NAME) {
      throw new InvalidNameError('marker', marker, `longer than ${MAX_FILE_NAME} characters`);
    }
    return marker as MarkerName;
  },
  split(marker: MarkerName): { snapshot: SnapshotName; host: HostName } {
    const at = marker.lastIndexOf('@');
    return {
      snapshot: marker.slice(0, at) as SnapshotName,
      host: marker.slice(at + 1) as HostName,
    };
  },
};

/** The volume a snapshot or send marker belongs to (the part before its first '@'). */
export function volumeOf(name: VolumeName | SnapshotName | MarkerName): VolumeName {
  const at = name.indexOf('@');
  return (at < 0 ? name : name.slice(0, at)) as VolumeName;
}

/**
 * Where a restore, clone or `Create` with `from` takes its data: a snapshot, or a volume (its
 * newest snapshot for a restore, its current state for a clone). Tagged once, where the name
 * is parsed; a volume name never holds '@'.
 */
export type VolumeSource =
  | { readonly kind: 'volume'; readonly name: VolumeName }
  | { readonly kind: 'snapshot'; readonly name: SnapshotName };

/**
 * Checks a snapshot timestamp format (DTFORMAT) once, where it is configured: retention must
 * write and read it, and its text may hold neither '/' (a path) nor '@' (the name separator).
 * Returns why it is refused, or undefined.
 */
export function snapshotFormatProblem(format: string): string | undefined {
  if (!format.includes('%')) return 'it has no strftime directive';
  if (format.includes('/')) return 'it writes "/" into snapshot names, which are folder names';
  if (format.includes('@')) return 'it writes "@", which separates the volume from the time';
  try {
    const sample = new Date(2001, 1, 3, 4, 5, 6, 7);
    const text = formatTimestamp(sample, format);
    if (parseTimestamp(text, format) === undefined) return 'its timestamps cannot be read back';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}
