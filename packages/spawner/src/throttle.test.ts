import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Throttle } from './throttle.js';

async function run(throttle: Throttle, chunks: number, size: number): Promise<number> {
  let seen = 0;
  const source = Readable.from(Array.from({ length: chunks }, () => Buffer.alloc(size)));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback();
    },
  });
  await pipeline(source, throttle, sink);
  return seen;
}

describe('Throttle', () => {
  it('passes every byte through and counts them', async () => {
    const throttle = new Throttle(1e12);
    expect(await run(throttle, 10, 1000)).toBe(10_000);
    expect(throttle.bytes).toBe(10_000);
  });

  it('holds the average rate under the limit', async () => {
    const throttle = new Throttle(1_000_000);
    const started = performance.now();
    await run(throttle, 10, 50_000); // 500 kB at 1 MB/s: about half a second
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(400);
    expect(elapsed).toBeLessThan(1500);
  });

  it('refuses a limit that is not positive', () => {
    expect(() => new Throttle(0)).toThrow(RangeError);
  });
});
