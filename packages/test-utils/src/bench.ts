// What benches and data-heavy tests share: sizes, random content, and the figures they print.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { appendFile } from 'node:fs/promises';

export const MiB = 1024 * 1024;

/** Appends `bytes` of random (incompressible) data to `path`, `chunk` bytes at a time. */
export async function writeRandom(path: string, bytes: number, chunk = 4 * MiB): Promise<void> {
  for (let written = 0; written < bytes; written += chunk) {
    await appendFile(path, randomBytes(Math.min(chunk, bytes - written)));
  }
}

/**
 * Writes `bytes` of text-like lines from a fixed vocabulary to `path`: it compresses about
 * 30:1 with zstd, as logs do. Deterministic, so two runs write the same bytes.
 */
export async function writeCompressible(path: string, bytes: number): Promise<void> {
  let seed = 1;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const words = Array.from({ length: 5000 }, () =>
    Array.from({ length: 3 + random(7) }, () => String.fromCharCode(97 + random(26))).join(''),
  );
  const out = createWriteStream(path);
  let written = 0;
  while (written < bytes) {
    const line = `${Array.from({ length: 12 }, () => words[random(words.length)]).join(' ')}\n`;
    const block = line.repeat(64);
    written += block.length;
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid]!;
  return sorted.length % 2 === 1 ? upper : (sorted[mid - 1]! + upper) / 2;
}

/** The nearest-rank quantile `q` (0 to 1) of `values`, e.g. 0.99 for the p99; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
  );
}
