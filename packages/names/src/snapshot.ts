import { DEFAULT_TIMESTAMP_FORMAT, formatTimestamp, parseTimestamp } from '@buttervolume/retention';
import { InvalidNameError } from './errors.js';
import { HostName } from './host.js';
import { MAX_VOLUME_NAME_LENGTH, VolumeName } from './volume.js';

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

// Instants a DTFORMAT must write and read back unchanged: single- and double-digit fields, the
// ends of a day and of a year, a leap day.
const SAMPLE_DATES: readonly Date[] = [
  new Date(2001, 1, 3, 4, 5, 6, 7),
  new Date(2024, 1, 29, 23, 59, 59, 999),
  new Date(2030, 11, 31, 0, 0, 0, 0),
  new Date(2010, 9, 10, 10, 10, 10, 100),
];

/** The fields a name's time needs so that ages (purge) and order across days mean something. */
const REQUIRED_DIRECTIVES = ['%Y', '%m', '%d'] as const;

/**
 * Checks a snapshot timestamp format (DTFORMAT) once, where it is configured: every name it
 * produces must be a valid snapshot name here and on every host (no '/', '@', control
 * character, and short enough for the longest volume name), and retention must read each
 * timestamp back to the same time. Returns why it is refused, or undefined.
 */
export function snapshotFormatProblem(format: string): string | undefined {
  if (!format.includes('%')) return 'it has no strftime directive';
  if (format.includes('/')) return 'it writes "/" into snapshot names, which are folder names';
  if (format.includes('@')) return 'it writes "@", which separates the volume from the time';
  // NUL cannot be in a file name; a newline or tab would split the line-based listings of
  // btrfs-progs and the log lines that carry names.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(format)) {
    return 'it writes a control character (newline, tab, NUL...), which no file name may hold';
  }
  try {
    formatTimestamp(SAMPLE_DATES[0]!, format); // an unsupported or repeated directive throws
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const missing = REQUIRED_DIRECTIVES.filter((d) => !format.replaceAll('%%', '').includes(d));
  if (missing.length > 0) {
    return `it lacks ${missing.join(', ')}: names would not carry their full date, so a purge would misjudge every snapshot's age`;
  }
  const longest = 'v'.repeat(MAX_VOLUME_NAME_LENGTH) as VolumeName;
  for (const date of SAMPLE_DATES) {
    const stamp = formatTimestamp(date, format);
    const back = parseTimestamp(stamp, format);
    if (back === undefined || formatTimestamp(back, format) !== stamp) {
      return `its timestamps cannot be read back ("${stamp}")`;
    }
    const name = `${longest}@${stamp}`;
    if (name.length > MAX_FILE_NAME) {
      return `its timestamps are ${stamp.length} characters: with a ${MAX_VOLUME_NAME_LENGTH}-character volume name a snapshot name would pass the ${MAX_FILE_NAME}-character file-name limit (use at most ${MAX_FILE_NAME - MAX_VOLUME_NAME_LENGTH - 1})`;
    }
    // The same parser every request and listing uses: a produced name it refuses would be a
    // snapshot the daemon could make but never name again.
    if (!SnapshotName.is(name, { format })) {
      return `it produces names that are not valid snapshot names ("${name.slice(MAX_VOLUME_NAME_LENGTH - 1)}")`;
    }
  }
  return undefined;
}
