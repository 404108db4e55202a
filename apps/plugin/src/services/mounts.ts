import { mkdir, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomicInMemory } from '@buttervolume/files';
import { MountStateError } from '../errors.js';
import type { Logger } from '../log.js';
import { readJsonOrUndefined, writeStateFile } from './files.js';

// statfs(2)'s f_type of a tmpfs.
const TMPFS_MAGIC = 0x01021994;

/**
 * Docker's mount IDs per volume. Docker does not re-send Mount after a plugin restart, so the
 * table is persisted (under the run dir: a tmpfs, emptied by a reboot, exactly when every
 * container is gone anyway) and reloaded at start.
 */
export class MountTable {
  readonly #byVolume = new Map<string, Set<string>>();
  /** The last write started (settled, never rejected), and the one changes now wait for. */
  #writing: Promise<void> = Promise.resolve();
  #next: Promise<void> | undefined;
  /**
   * The state file's folder once known to exist (made once, not at every Mount): in memory (a
   * tmpfs, as /run is) or on a disk, which decides how the file is written.
   */
  #folder: 'unknown' | 'memory' | 'disk' = 'unknown';

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

  /**
   * Records a mount ID. When the table cannot be saved (a full or read-only RUNPATH) the ID
   * is dropped again and the error thrown: Docker then fails the Mount and never sends its
   * Unmount, so a kept ID would only make the volume look used.
   */
  async add(volume: string, id: string): Promise<void> {
    let ids = this.#byVolume.get(volume);
    if (!ids) {
      ids = new Set();
      this.#byVolume.set(volume, ids);
    }
    if (ids.has(id)) return;
    ids.add(id);
    try {
      await this.#persist();
    } catch (error) {
      this.#delete(volume, id);
      throw new MountStateError('record', volume, this.statePath ?? '', error);
    }
  }

  /** Forgets a mount ID; when that cannot be saved it is kept (the disk still says mounted). */
  async remove(volume: string, id: string): Promise<void> {
    if (!this.#delete(volume, id)) return;
    try {
      await this.#persist();
    } catch (error) {
      this.#add(volume, id);
      throw new MountStateError('forget', volume, this.statePath ?? '', error);
    }
  }

  /** Forgets every mount of a volume (after a forced remove). */
  async forget(volume: string): Promise<void> {
    const ids = this.#byVolume.get(volume);
    if (!ids) return;
    this.#byVolume.delete(volume);
    try {
      await this.#persist();
    } catch (error) {
      if (!this.#byVolume.has(volume)) this.#byVolume.set(volume, ids);
      throw new MountStateError('forget', volume, this.statePath ?? '', error);
    }
  }

  #add(volume: string, id: string): void {
    const ids = this.#byVolume.get(volume) ?? new Set<string>();
    ids.add(id);
    this.#byVolume.set(volume, ids);
  }

  #delete(volume: string, id: string): boolean {
    const ids = this.#byVolume.get(volume);
    if (!ids?.delete(id)) return false;
    if (ids.size === 0) this.#byVolume.delete(volume);
    return true;
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

  /**
   * Saves the table; resolves once a write that started after this call has landed. Changes
   * made while a write is on disk share the next one (a burst of Mounts costs two writes, not
   * one each), and writes never overlap, so the file never goes back to an older table.
   */
  #persist(): Promise<void> {
    const path = this.statePath;
    if (path === undefined) return Promise.resolve();
    if (this.#next) return this.#next;
    const next = this.#writing.then(async () => {
      this.#next = undefined; // changes from now on need the write after this one
      const text = JSON.stringify({
        version: 1,
        mounts: Object.fromEntries([...this.#byVolume].map(([v, ids]) => [v, [...ids]])),
      });
      // Not fsync'd: the table must survive a crash of the daemon, which it does without one;
      // a power cut ends every container, and Docker mounts again after the reboot.
      try {
        if (this.#folder === 'unknown') {
          await mkdir(dirname(path), { recursive: true });
          this.#folder = (await statfs(dirname(path))).type === TMPFS_MAGIC ? 'memory' : 'disk';
        }
        // In memory the write never waits for a disk: done at once, it spares Mount and Unmount
        // four thread-pool round trips (their main cost on a loaded machine).
        if (this.#folder === 'memory') writeFileAtomicInMemory(path, text);
        else await writeStateFile(path, text, { durable: false, makeFolder: false });
      } catch (error) {
        this.#folder = 'unknown'; // removed behind our back, maybe: make it again next time
        this.logger.error('could not persist mount state', { statePath: path, error });
        throw error;
      }
    });
    this.#next = next;
    // Its failure reaches the callers awaiting `next`; the chain only orders the writes.
    this.#writing = next.catch(() => {});
    return next;
  }
}
