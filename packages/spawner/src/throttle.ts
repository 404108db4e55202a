import { Transform, type TransformCallback } from 'node:stream';

// Big chunks are cut so a low limit is spread out instead of arriving in bursts.
const MAX_SLICE = 64 * 1024;

/**
 * A pass-through stream that counts the bytes flowing through it and holds data back so the
 * average rate since the start stays under `bytesPerSec` (there is no `pv` to lean on).
 */
export class Throttle extends Transform {
  bytes = 0;
  readonly #started: number;
  readonly #now: () => number;

  constructor(
    readonly bytesPerSec: number,
    now: () => number = () => performance.now(),
  ) {
    super();
    if (!(bytesPerSec > 0)) {
      throw new RangeError(`bandwidth limit must be > 0 bytes/s, got ${bytesPerSec}`);
    }
    this.#now = now;
    this.#started = now();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pushSlices(chunk).then(() => callback(), callback);
  }

  async #pushSlices(chunk: Buffer): Promise<void> {
    const limit = this.bytesPerSec;
    const sliceSize = Math.max(1, Math.min(MAX_SLICE, Math.ceil(limit / 20)));
    for (let offset = 0; offset < chunk.length; offset += sliceSize) {
      const slice = chunk.subarray(offset, offset + sliceSize);
      // Wait until the bytes already passed fit the limit; then this slice may go.
      const aheadMs = (this.bytes * 1000) / limit - (this.#now() - this.#started);
      if (aheadMs > 1) await new Promise((resolve) => setTimeout(resolve, aheadMs));
      this.bytes += slice.length;
      this.push(slice);
    }
  }
}
