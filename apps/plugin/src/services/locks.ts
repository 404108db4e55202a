/**
 * Two locks per volume, so that Docker's calls never wait on a long job:
 *
 * - the **structural** lock, held briefly: shared by the calls that need the volume to stay in
 *   place (Mount, Unmount, Get, Path, Snapshot), exclusive for what creates, replaces or deletes
 *   it (Create, Remove, Clone, restore's swap). Waiting on it is bounded by those changes.
 * - the **job** locks, held for as long as a job takes: one on the volume's content (sync,
 *   restore), one on its snapshots (purge, restore), so a purge and a sync of the same volume
 *   run side by side. Docker's calls never take them; Remove asks what runs instead of waiting.
 *
 * A caller that needs both takes the job lock first. Several keys are taken in sorted order, so
 * two operations naming the same volumes in any order cannot deadlock.
 */
export class VolumeLocks {
  readonly #structure = new KeyedLock();
  readonly #jobs = new KeyedLock();
  /** The job holding each `<volume>\0<part>`. */
  readonly #running = new Map<string, JobKind>();

  /** Shared structural lock: the volume stays in place meanwhile. */
  read<T>(keys: string | readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.#structure.run(modes(keys, 'read'), fn);
  }

  /** Exclusive structural lock on `keys` (shared on `reading`): keep `fn` short. */
  change<T>(
    keys: string | readonly string[],
    fn: () => Promise<T>,
    options: { reading?: readonly string[] } = {},
  ): Promise<T> {
    return this.#structure.run(
      { ...modes(options.reading ?? [], 'read'), ...modes(keys, 'write') },
      fn,
    );
  }

  /** A long job on `keys`: waits for jobs on the same part of the volumes, never for Docker's calls. */
  async job<T>(keys: string | readonly string[], kind: JobKind, fn: () => Promise<T>): Promise<T> {
    const names = Object.keys(modes(keys, 'write'));
    const parts = names.flatMap((name) => JOB_PARTS[kind].map((part) => `${name}\0${part}`));
    return this.#jobs.run(modes(parts, 'write'), async () => {
      for (const part of parts) this.#running.set(part, kind);
      try {
        return await fn();
      } finally {
        for (const part of parts) this.#running.delete(part);
      }
    });
  }

  /** The job writing or replacing a volume's content now (sync, restore), if any. */
  contentJobOf(key: string): JobKind | undefined {
    return this.#running.get(`${key}\0content`);
  }

  /** Keys held or waited for (for tests and diagnostics). */
  get size(): number {
    return this.#structure.size + this.#jobs.size;
  }
}

export type JobKind = 'sync' | 'purge' | 'restore';

/** What of a volume each job writes: its content (the subvolume) or its set of snapshots. */
const JOB_PARTS: Record<JobKind, readonly string[]> = {
  sync: ['content'],
  purge: ['snapshots'],
  restore: ['content', 'snapshots'],
};
type Mode = 'read' | 'write';

function modes(keys: string | readonly string[], mode: Mode): Record<string, Mode> {
  const list = typeof keys === 'string' ? [keys] : keys;
  return Object.fromEntries(list.map((key) => [key, mode]));
}

interface Waiter {
  mode: Mode;
  grant: () => void;
}

interface KeyState {
  readers: number;
  writer: boolean;
  queue: Waiter[];
}

/**
 * A readers-writer lock per key, first come first served: a writer waiting holds back readers
 * that come after it, so a stream of Mounts cannot starve a restore.
 */
class KeyedLock {
  readonly #states = new Map<string, KeyState>();

  async run<T>(keys: Record<string, Mode>, fn: () => Promise<T>): Promise<T> {
    const sorted = Object.keys(keys).sort();
    const releases: Array<() => void> = [];
    try {
      for (const key of sorted) releases.push(await this.#acquire(key, keys[key] ?? 'write'));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  get size(): number {
    return this.#states.size;
  }

  #acquire(key: string, mode: Mode): Promise<() => void> {
    let state = this.#states.get(key);
    if (!state) {
      state = { readers: 0, writer: false, queue: [] };
      this.#states.set(key, state);
    }
    const held = state;
    return new Promise((resolve) => {
      held.queue.push({ mode, grant: () => resolve(() => this.#release(key, held, mode)) });
      this.#grant(held);
    });
  }

  #release(key: string, state: KeyState, mode: Mode): void {
    if (mode === 'write') state.writer = false;
    else state.readers--;
    this.#grant(state);
    // Last one out removes the key, so the map does not grow with every volume ever seen.
    if (!state.writer && state.readers === 0 && state.queue.length === 0) this.#states.delete(key);
  }

  #grant(state: KeyState): void {
    while (state.queue.length > 0 && !state.writer) {
      const next = state.queue[0]!;
      if (next.mode === 'write' && state.readers > 0) return;
      state.queue.shift();
      if (next.mode === 'write') state.writer = true;
      else state.readers++;
      next.grant();
    }
  }
}
