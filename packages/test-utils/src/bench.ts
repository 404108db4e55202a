// What benches and data-heavy tests share: sizes, random content, and the figures they print.
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';

export const MiB = 1024 * 1024;

/** Appends `bytes` of random (incompressible) data to `path`, `chunk` bytes at a time. */
export async function writeRandom(path: string, bytes: number, chunk = 4 * MiB): Promise<void> {
  for (let written = 0; written < bytes; written += chunk) {
    await appendFile(path, randomBytes(Math.min(chunk, bytes - written)));
  }
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
