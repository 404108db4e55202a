import type { Logger } from '../log.js';
import { readJsonOrUndefined, writeFileAtomic } from './files.js';

/**
 * Docker's mount IDs per volume. Docker does not re-send Mount after a plugin restart, so the
 * table is persisted (under the run dir: a tmpfs, emptied by a reboot, exactly when every
 * container is gone anyway) and reloaded at start.
 */
export class MountTable {
  readonly #byVolume = new Map<string, Set<string>>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly statePath: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** Loads the persisted table; a missing or unreadable file starts empty (and says so). */
  static async load(statePath: string | undefined, logger: Logger): Promise<MountTable> {
    const table = new MountTable(statePath, logger);
    if (statePath === undefined) return table;
    try {
      const data = await readJsonOrUndefined(statePath);
      if (data !== undefined) table.#restore(data);
    } catch (error) {
      logger.warn('mount state unreadable, starting with no known mounts', { statePath, error });
    }
    return table;
  }

  ids(volume: string): string[] {
    return [...(this.#byVolume.get(volume) ?? [])].sort();
  }

  async add(volume: string, id: string): Promise<void> {
    let ids = this.#byVolume.get(volume);
    if (!ids) {
      ids = new Set();
      this.#byVolume.set(volume, ids);
    }
    if (ids.has(id)) return;
    ids.add(id);
    await this.#persist();
  }

  async remove(volume: string, id: string): Promise<void> {
    const ids = this.#byVolume.get(volume);
    if (!ids?.delete(id)) return;
    if (ids.size === 0) this.#byVolume.delete(volume);
    await this.#persist();
  }

  /** Forgets every mount of a volume (after a forced remove). */
  async forget(volume: string): Promise<void> {
    if (!this.#byVolume.delete(volume)) return;
    await this.#persist();
  }

  #restore(data: unknown): void {
    const mounts = (data as { mounts?: unknown } | null)?.mounts;
    if (typeof mounts !== 'object' || mounts === null) return;
    for (const [volume, ids] of Object.entries(mounts)) {
      if (!Array.isArray(ids)) continue;
      const valid = ids.filter((id): id is string => typeof id === 'string');
      if (valid.length > 0) this.#byVolume.set(volume, new Set(valid));
    }
  }

  // Writes are chained: two quick mounts never interleave their renames out of order.
  #persist(): Promise<void> {
    const path = this.statePath;
    if (path === undefined) return Promise.resolve();
    const snapshot = JSON.stringify({
      version: 1,
      mounts: Object.fromEntries([...this.#byVolume].map(([v, ids]) => [v, [...ids]])),
    });
    const next = this.#writing.then(() =>
      writeFileAtomic(path, snapshot).catch((error: unknown) => {
        this.logger.error('could not persist mount state', { statePath: path, error });
        throw error;
      }),
    );
    this.#writing = next.catch(() => {});
    return next;
  }
}
