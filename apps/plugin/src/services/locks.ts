/**
 * One async mutex per key (a volume name): operations on the same volume run one after the
 * other, different volumes run concurrently. Several keys are taken in sorted order so two
 * operations that both need A and B (restore A onto B, clone B from A) cannot deadlock.
 */
export class VolumeLocks {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(keys: string | readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(typeof keys === 'string' ? [keys] : keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const key of sorted) releases.push(await this.#acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** Keys currently held or waited for (for tests and diagnostics). */
  get size(): number {
    return this.#tails.size;
  }

  async #acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    return () => {
      release();
      // Last one out removes the key, so the map does not grow with every volume ever seen.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
