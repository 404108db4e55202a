// One reading of sizes written by people ("10G", "512M", "1.5T", "1048576") for every place
// that takes one: volume quotas (Opts.size), the image of `buttervolume init`, the ssh
// bandwidth limit. Units are powers of 1024, as btrfs-progs and `truncate -s` read them.

const POWERS: Readonly<Record<string, number>> = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

export interface ByteSizeOptions {
  /** Also accept a rate's `/s` suffix ("50M/s"). */
  readonly perSecond?: boolean;
}

/**
 * Bytes written as a number with an optional unit K, M, G, T, P or E (any case, `10GiB` and
 * `10GB` read as `10G`), rounded down to a whole byte; undefined when the text is no such size,
 * is a fraction of a byte ("1.5"), or is too large to count exactly. Zero is a size: callers
 * that need more say so in their own words.
 */
export function parseByteSize(text: string, options: ByteSizeOptions = {}): number | undefined {
  const rate = options.perSecond ? '(?:\\/s)?' : '';
  const match = new RegExp(`^(\\d+(?:\\.\\d+)?)\\s*([kmgtpe]?)(?:i?b)?${rate}$`, 'i').exec(
    text.trim(),
  );
  const power = POWERS[(match?.[2] ?? '').toLowerCase()];
  if (match?.[1] === undefined || power === undefined) return undefined;
  const exact = Number(match[1]) * 1024 ** power;
  if (power === 0 && !Number.isInteger(exact)) return undefined;
  const bytes = Math.floor(exact);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
