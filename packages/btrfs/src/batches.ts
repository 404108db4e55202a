/** Limits of one command line built from many arguments. */
export interface BatchLimits {
  maxCount: number;
  /** Bytes of the arguments (UTF-8, with their NUL terminators). */
  maxBytes: number;
}

/**
 * Splits `args` into consecutive groups within `limits`, order kept, so that one process can
 * take many paths without hitting ARG_MAX. An argument larger than maxBytes on its own still
 * gets a group of its own (the kernel, not us, then says it is too long).
 */
export function argumentBatches(args: readonly string[], limits: BatchLimits): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const arg of args) {
    const size = Buffer.byteLength(arg) + 1;
    if (batch.length > 0 && (batch.length >= limits.maxCount || bytes + size > limits.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(arg);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
