import { StorageError } from './errors.js';

/** mkfs.btrfs (btrfs-progs 6.x) refuses filesystems smaller than this. */
export const MIN_IMAGE_BYTES = 114_294_784;

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Parses an image size the way `truncate -s` reads it with binary units: `20G`, `512M`,
 * `1.5T`, `123456789` (bytes). Parsed once here so the rest works with a byte count.
 */
export function parseSize(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(raw.trim());
  const unit = UNITS[(match?.[2] ?? '').toUpperCase()];
  if (!match?.[1] || unit === undefined) {
    throw new StorageError(
      'INVALID_SIZE',
      `invalid size ${JSON.stringify(raw)}: use a number with an optional K, M, G or T suffix, e.g. 20G`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes < MIN_IMAGE_BYTES) {
    throw new StorageError(
      'INVALID_SIZE',
      `size ${raw} is too small: btrfs needs at least ${Math.ceil(MIN_IMAGE_BYTES / 2 ** 20)}M`,
    );
  }
  return bytes;
}
