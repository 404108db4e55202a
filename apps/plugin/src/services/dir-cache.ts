import { statSync } from 'node:fs';

// A folder's mtime only moves in clock ticks (a jiffy, up to 4 ms on btrfs): a listing taken in
// the same tick as a change may miss a second change in that tick without the mtime moving.
// Like git's "racy" index entries, a listing is only trusted when it was taken well after the
// folder's last change.
const RACY_WINDOW_NS = 50_000_000n;

/** How long recent() waits for a fresh listing before it answers the previous one. */
const RECENT_PATIENCE_MS = 20;
const LATE = Symbol('late');

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
  #refreshing: Promise<T> | undefined;

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

  /**
   * Like get(), but when a fresh listing takes longer than `patienceMs`, answers the previous
   * one meanwhile (the re-read goes on, one at a time, and serves the next calls). For figures
   * that may lag a re-read (a snapshot count in Docker's Get), never for decisions: while
   * `btrfs subvolume delete` runs (a purge of 2,000), each delete holds the folder and moves its
   * mtime, so every Get waited for a fresh readdir behind the deletes (p99 590 ms). With no
   * previous listing (the first call, or after invalidate(): our own change) it waits, as get().
   */
  async recent(patienceMs = RECENT_PATIENCE_MS): Promise<T> {
    const cached = this.#entry;
    if (cached === undefined) return this.get();
    this.#refreshing ??= this.get().finally(() => {
      this.#refreshing = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof LATE>((resolve) => {
      timer = setTimeout(() => resolve(LATE), patienceMs);
    });
    try {
      const value = await Promise.race([this.#refreshing, late]);
      return value === LATE ? cached.value : value;
    } finally {
      clearTimeout(timer);
    }
  }

  invalidate(): void {
    this.#generation++;
    this.#entry = undefined;
  }
}
