export interface Progress {
  /** Bytes of send stream handed to ssh so far (before ssh compression). */
  bytes: number;
  elapsedMs: number;
  /** Average since the start. */
  rateBytesPerSec: number;
}
