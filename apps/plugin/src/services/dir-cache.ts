import { statSync } from 'node:fs';

// A folder's mtime only moves in clock ticks (a jiffy, up to 4 ms on btrfs): a listing taken in
// the same tick as a change may miss a second change in that tick without the mtime moving.
// Like git's "racy" index entries, a listing is only trusted when it was taken well after the
// folder's last change.
const RACY_WINDOW_NS = 50_000_000n;

interface Entry<T> {
  mtimeNs: bigint;
  ctimeNs: bigint;
  takenAtNs: bigint;
  value: T;
}

/**
 * Memoises a computation over a folder's entries (a listing of 10,000 volumes) until the
 * folder changes. Our own writes call invalidate(); changes made behind our back (a user's
 * `btrfs subvolume delete`) move the folder's mtime.
 */
export class DirCache<T> {
  #entry: Entry<T> | undefined;
  #generation = 0;

  constructor(
    readonly dir: string,
    private readonly compute: () => Promise<T>,
  ) {}

  async get(): Promise<T> {
    // Synchronous on purpose: one stat of a local folder takes microseconds, a round trip
    // through libuv's thread pool more than the rest of a cached answer (see btrfs/inspect.ts).
    const before = statSync(this.dir, { bigint: true });
    const cached = this.#entry;
    if (
      cached !== undefined &&
      cached.mtimeNs === before.mtimeNs &&
      cached.ctimeNs === before.ctimeNs &&
      cached.takenAtNs - before.mtimeNs > RACY_WINDOW_NS
    ) {
      return cached.value;
    }
    const generation = this.#generation;
    const takenAtNs = BigInt(Date.now()) * 1_000_000n;
    const value = await this.compute();
    // An invalidate() during the computation means the value may already be stale: use it for
    // this caller, but do not keep it.
    if (generation === this.#generation) {
      this.#entry = { mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs, takenAtNs, value };
    }
    return value;
  }

  invalidate(): void {
    this.#generation++;
    this.#entry = undefined;
  }
}
