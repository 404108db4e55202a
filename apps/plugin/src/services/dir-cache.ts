import { statSync } from 'node:fs';

// A folder's mtime only moves in clock ticks (a jiffy, up to 4 ms on btrfs): a listing taken in
// the same tick as a change may miss a second change in that tick without the mtime moving.
// Like git's "racy" index entries, a listing is only trusted when it was taken well after the
// folder's last change.
const RACY_WINDOW_NS = 50_000_000n;

/** How long recent() waits for a fresh listing before it answers the previous one. */
const RECENT_PATIENCE_MS = 20;
const LATE = Symbol('late');

/** The folder as stat() saw it right before a listing. */
interface Listed {
  mtimeNs: bigint;
  ctimeNs: bigint;
  takenAtNs: bigint;
}

interface Entry<T> {
  value: T;
  /**
   * - `listed`: `value` is that listing; get() answers it while the folder's stat is the same.
   * - `patched`: a listing plus our own changes, each known exactly (patch()): recent() answers
   *   it at once; get() reads the folder again.
   * - `stale`: a listing from before a change of ours we cannot describe (invalidate()): recent()
   *   answers it only when a re-read is slow; get() reads the folder again.
   */
  state: { kind: 'listed'; listed: Listed } | { kind: 'patched' } | { kind: 'stale' };
}

/**
 * Memoises a computation over a folder's entries (a listing of 10,000 volumes) until the
 * folder changes. Our own writes call patch() or invalidate(); changes made behind our back (a
 * user's `btrfs subvolume delete`) move the folder's mtime.
 *
 * Why patch() and not just invalidate(): while `btrfs subvolume delete` runs, a readdir of the
 * folder waits in the kernel behind the deletes (tens to hundreds of ms in a purge of 2,000), and
 * after each snapshot we take, Docker's Get needed a fresh listing to count it: Get's p99 was
 * 92 ms in a purge, 94 ms in the soak (a snapshot every second), with an idle event loop.
 */
export class DirCache<T> {
  #entry: Entry<T> | undefined;
  #generation = 0;
  #refreshing: Promise<T> | undefined;
  /** Our own changes of the folder in progress (changing()). */
  #changing = 0;

  constructor(
    readonly dir: string,
    private readonly compute: () => Promise<T>,
  ) {}

  /** The folder's entries now: the cached listing only when the folder did not change since. */
  async get(): Promise<T> {
    // Synchronous on purpose: one stat of a local folder takes microseconds, a round trip
    // through libuv's thread pool more than the rest of a cached answer (see btrfs/inspect.ts).
    const before = statSync(this.dir, { bigint: true });
    const state = this.#entry?.state;
    if (
      state?.kind === 'listed' &&
      state.listed.mtimeNs === before.mtimeNs &&
      state.listed.ctimeNs === before.ctimeNs &&
      state.listed.takenAtNs - before.mtimeNs > RACY_WINDOW_NS
    ) {
      return this.#entry!.value;
    }
    const generation = this.#generation;
    const takenAtNs = BigInt(Date.now()) * 1_000_000n;
    const value = await this.compute();
    // A patch() or invalidate() during the computation means the value may already be stale:
    // use it for this caller, but do not keep it.
    if (generation === this.#generation) {
      this.#entry = {
        value,
        state: {
          kind: 'listed',
          listed: { mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs, takenAtNs },
        },
      };
    }
    return value;
  }

  /**
   * Like get(), but never waits long on the folder: for figures that may lag a change made
   * behind our back by one re-read (a snapshot count in Docker's Get), never for decisions.
   * - After our own changes, all known (patch()), it answers the patched value at once and
   *   re-reads in the background. While one runs (changing()), it answers the value from before
   *   at once and does not re-read: a listing would wait behind that very change.
   * - When the folder changed otherwise (or after invalidate()), it waits up to `patienceMs`
   *   for a fresh listing, then answers the previous one (the re-read goes on, one at a time,
   *   and serves the next calls): during a purge each delete moves the folder's mtime.
   * - With no listing yet (the first call) it waits, as get().
   */
  async recent(patienceMs = RECENT_PATIENCE_MS): Promise<T> {
    const cached = this.#entry;
    if (cached === undefined) return this.get();
    if (this.#changing > 0) return cached.value;
    const refreshing = this.#refresh();
    if (cached.state.kind === 'patched') {
      refreshing.catch(() => {}); // the next call reads again
      return cached.value;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof LATE>((resolve) => {
      timer = setTimeout(() => resolve(LATE), patienceMs);
    });
    try {
      const value = await Promise.race([refreshing, late]);
      return value === LATE ? cached.value : value;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Our own change to the folder, known exactly (the names we created or deleted): the cached
   * value becomes `change(value)`, which recent() answers without reading the folder. get()
   * still reads it afresh: decisions never rest on a patched value.
   */
  patch(change: (value: T) => T): void {
    const cached = this.#entry;
    this.#forgetReads();
    if (cached !== undefined)
      this.#entry = { value: change(cached.value), state: { kind: 'patched' } };
  }

  /**
   * Runs our own change of the folder (a purge's `btrfs subvolume delete` of 2,000): meanwhile
   * recent() answers the value from before without waiting. Describe its outcome with patch()
   * or invalidate() afterwards.
   */
  async changing<R>(change: () => Promise<R>): Promise<R> {
    this.#changing++;
    try {
      return await change();
    } finally {
      this.#changing--;
    }
  }

  /**
   * Our own change, not described (a marker a send wrote, a restore's recovery): get() reads
   * again; recent() gives a fresh listing up to its patience, else the one before the change.
   */
  invalidate(): void {
    const cached = this.#entry;
    this.#forgetReads();
    if (cached !== undefined) this.#entry = { value: cached.value, state: { kind: 'stale' } };
  }

  /** Listings started before a change of ours may miss it: neither kept nor shared. */
  #forgetReads(): void {
    this.#generation++;
    this.#refreshing = undefined;
  }

  /** One re-read at a time for recent()'s callers. */
  #refresh(): Promise<T> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    const refreshing = this.get().finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = undefined;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }
}
