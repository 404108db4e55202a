import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Meter, type Progress } from './progress.js';

async function run(meter: Meter, chunks: number, size: number): Promise<number> {
  let seen = 0;
  const source = Readable.from(Array.from({ length: chunks }, () => Buffer.alloc(size)));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback();
    },
  });
  await pipeline(source, meter, sink);
  return seen;
}

describe('Meter', () => {
  it('passes every byte through, counts them and reports a final progress', async () => {
    const reports: Progress[] = [];
    const meter = new Meter({ onProgress: (p) => reports.push(p), intervalMs: 0 });
    expect(await run(meter, 10, 1000)).toBe(10_000);
    expect(meter.bytes).toBe(10_000);
    expect(reports.at(-1)?.bytes).toBe(10_000);
    expect(reports.length).toBeGreaterThan(1);
  });

  it('holds the average rate under the limit', async () => {
    const meter = new Meter({ bytesPerSec: 1_000_000 });
    const started = performance.now();
    await run(meter, 10, 50_000); // 500 kB at 1 MB/s: about half a second
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(400);
    expect(elapsed).toBeLessThan(1500);
  });

  it('refuses a limit that is not positive', () => {
    expect(() => new Meter({ bytesPerSec: 0 })).toThrow(RangeError);
  });
});
