import { parseByteSize } from '@buttervolume/text';
import { StorageError } from './errors.js';

/** mkfs.btrfs (btrfs-progs 6.x) refuses filesystems smaller than this. */
export const MIN_IMAGE_BYTES = 114_294_784;

/**
 * Parses an image size the way `truncate -s` reads it with binary units: `20G`, `512M`,
 * `1.5T`, `123456789` (bytes). Parsed once here so the rest works with a byte count.
 */
export function parseSize(raw: string): number {
  const bytes = parseByteSize(raw);
  if (bytes === undefined) {
    throw new StorageError(
      'INVALID_SIZE',
      `invalid size ${JSON.stringify(raw)}: use a number with an optional K, M, G or T suffix, e.g. 20G`,
    );
  }
  if (bytes < MIN_IMAGE_BYTES) {
    throw new StorageError(
      'INVALID_SIZE',
      `size ${raw} is too small: btrfs needs at least ${Math.ceil(MIN_IMAGE_BYTES / 2 ** 20)}M`,
    );
  }
  return bytes;
}
