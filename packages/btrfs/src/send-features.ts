import { readFile } from 'node:fs/promises';
import { runTolerant } from './run.js';

/**
 * Whether this end can write (or read) send protocol 2 with `--compressed-data`: btrfs-progs
 * 5.19 or later, and a kernel whose send supports stream version 2 (its
 * /sys/fs/btrfs/features/send_stream_version says 2 or more). A compressed volume then crosses
 * the wire at its on-disk size; otherwise sends use the version 1 stream, as before.
 */
export interface SendFeatures {
  /** btrfs-progs version, e.g. [6, 2]; undefined when `btrfs --version` could not be read. */
  readonly progs: readonly [number, number] | undefined;
  /** The kernel's highest send stream version (1 when the sysfs file is missing). */
  readonly streamVersion: number;
}

/** btrfs-progs learned `--proto` and `--compressed-data` (send) and protocol 2 (receive) in 5.19. */
export const COMPRESSED_SEND_PROGS = [5, 19] as const;

/** What `btrfs send` is given for protocol 2 with compressed data. */
export const COMPRESSED_SEND_ARGS: readonly string[] = ['--proto', '2', '--compressed-data'];

/** `btrfs-progs v6.2` or `btrfs-progs v5.19.1` → [6, 2] / [5, 19]; undefined for anything else. */
export function parseProgsVersion(stdout: string): [number, number] | undefined {
  const match = /^btrfs-progs v(\d{1,4})\.(\d{1,4})/m.exec(stdout);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** The send stream versions a kernel offers, from send_stream_version's text; 1 when unreadable. */
export function parseStreamVersion(text: string | undefined): number {
  const value = text === undefined ? Number.NaN : Number(text.trim());
  return Number.isInteger(value) && value >= 1 ? value : 1;
}

/** True when this end's progs and kernel both do protocol 2. */
export function canSendCompressed(features: SendFeatures): boolean {
  const { progs, streamVersion } = features;
  if (progs === undefined || streamVersion < 2) return false;
  const [major, minor] = progs;
  return major > COMPRESSED_SEND_PROGS[0] || (major === 5 && minor >= COMPRESSED_SEND_PROGS[1]);
}

/** True when a receiver's btrfs-progs reads protocol 2 streams (`btrfs receive` does it in userspace). */
export function canReceiveCompressed(progs: readonly [number, number] | undefined): boolean {
  return canSendCompressed({ progs, streamVersion: 2 });
}

/**
 * The arguments `btrfs send` gets before the parent/snapshot ones: protocol 2 with compressed
 * data when both ends can, nothing (the version 1 stream) otherwise.
 */
export function sendProtocolArgs(
  local: SendFeatures,
  remoteProgs: readonly [number, number] | undefined,
): string[] {
  return canSendCompressed(local) && canReceiveCompressed(remoteProgs)
    ? [...COMPRESSED_SEND_ARGS]
    : [];
}

/** Reads the kernel's send stream version on this machine (1 when the file is absent). */
export async function localStreamVersion(
  file = '/sys/fs/btrfs/features/send_stream_version',
): Promise<number> {
  try {
    return parseStreamVersion(await readFile(file, 'utf8'));
  } catch (error) {
    // Kernels before 5.16 have no such file: they send version 1.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return parseStreamVersion(undefined);
    throw error;
  }
}

/** This machine's send features: `btrfs --version` and the kernel's stream version. */
export async function localSendFeatures(btrfsPath = 'btrfs'): Promise<SendFeatures> {
  const [version, streamVersion] = await Promise.all([
    // An unknown progs version only turns compressed sends off (the version 1 stream works).
    runTolerant(btrfsPath, ['--version']).catch(() => undefined),
    localStreamVersion(),
  ]);
  return { progs: version && parseProgsVersion(version.stdout), streamVersion };
}
