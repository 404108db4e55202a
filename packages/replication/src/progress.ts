import { Transform, type TransformCallback } from 'node:stream';

export interface Progress {
  /** Bytes of send stream handed to ssh so far (before ssh compression). */
  bytes: number;
  elapsedMs: number;
  /** Average since the start. */
  rateBytesPerSec: number;
}

export interface MeterOptions {
  /** Called at most every `intervalMs`, and once at the end. */
  onProgress?: ((progress: Progress) => void) | undefined;
  intervalMs?: number | undefined;
  /** Average rate limit in bytes per second; undefined for none. */
  bytesPerSec?: number | undefined;
  /** Clock, for tests. */
  now?: () => number;
}

// Big chunks are cut so a low limit is spread out instead of arriving in bursts.
const MAX_SLICE = 64 * 1024;

/**
 * A pass-through stream that counts the bytes flowing through it, reports progress and, when
 * asked, holds data back so the average rate stays under a limit (there is no `pv` to lean on).
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly started: number;
  private lastReport = 0;
  private readonly now: () => number;
  private readonly intervalMs: number;

  constructor(private readonly options: MeterOptions = {}) {
    super();
    if (options.bytesPerSec !== undefined && !(options.bytesPerSec > 0)) {
      throw new RangeError(`bandwidth limit must be > 0 bytes/s, got ${options.bytesPerSec}`);
    }
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.intervalMs = options.intervalMs ?? 500;
  }

  get elapsedMs(): number {
    return this.now() - this.started;
  }

  progress(): Progress {
    const elapsedMs = this.elapsedMs;
    return {
      bytes: this.bytes,
      elapsedMs,
      rateBytesPerSec: elapsedMs > 0 ? (this.bytes * 1000) / elapsedMs : 0,
    };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pushSlices(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.options.onProgress?.(this.progress());
    callback();
  }

  private async pushSlices(chunk: Buffer): Promise<void> {
    const limit = this.options.bytesPerSec;
    const sliceSize =
      limit === undefined ? chunk.length : Math.max(1, Math.min(MAX_SLICE, Math.ceil(limit / 20)));
    for (let offset = 0; offset < chunk.length; offset += sliceSize) {
      const slice = chunk.subarray(offset, offset + sliceSize);
      if (limit !== undefined) {
        // Wait until the bytes already passed fit the limit; then this slice may go.
        const dueMs = (this.bytes * 1000) / limit;
        const aheadMs = dueMs - this.elapsedMs;
        if (aheadMs > 1) await new Promise((resolve) => setTimeout(resolve, aheadMs));
      }
      this.bytes += slice.length;
      this.push(slice);
      this.maybeReport();
    }
  }

  private maybeReport(): void {
    if (!this.options.onProgress) return;
    const now = this.now();
    if (now - this.lastReport < this.intervalMs) return;
    this.lastReport = now;
    this.options.onProgress(this.progress());
  }
}
