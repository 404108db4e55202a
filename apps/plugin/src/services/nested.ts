import { relative, sep } from 'node:path';
import type { Btrfs } from '@buttervolume/btrfs';
import type { Logger } from '../log.js';

/** How old the answer for Get may be: nested subvolumes appear from inside containers. */
const RELIST_EVERY_MS = 10_000;

/**
 * The subvolumes nested in each volume (Docker-in-Docker with the btrfs driver makes them),
 * which no snapshot contains. Get reports them from one listing of the whole filesystem (one
 * process, ~15 ms at 3,000 subvolumes), redone in the background at most every 10 s; snapshot
 * and restore ask for one volume afresh.
 */
export class NestedSubvolumes {
  #byVolume: Map<string, string[]> | undefined;
  #listedAt = 0;
  #listing: Promise<void> | undefined;

  constructor(
    private readonly volumesPath: string,
    private readonly btrfs: Pick<Btrfs, 'subvolumesBelow'>,
    private readonly logger: Logger,
    private readonly relistEveryMs = RELIST_EVERY_MS,
  ) {}

  /** A volume's nested subvolumes, relative to it and sorted, as of the last listing. */
  async of(volume: string): Promise<string[]> {
    if (this.#byVolume === undefined) await this.#listOnce();
    else if (Date.now() - this.#listedAt > this.relistEveryMs) {
      this.#listOnce().catch(() => {});
    }
    return this.#byVolume?.get(volume) ?? [];
  }

  /** A volume's nested subvolumes now (one process); the cached answer is updated. */
  async check(volume: string, volumePath: string): Promise<string[]> {
    const nested = (await this.btrfs.subvolumesBelow(volumePath))
      .map((path) => relative(volumePath, path))
      .sort();
    this.#byVolume?.set(volume, nested);
    return nested;
  }

  /** The volume is gone or was replaced. */
  forget(volume: string): void {
    this.#byVolume?.delete(volume);
  }

  /** Resolves when no listing runs (the daemon waits for it before it stops). */
  async settled(): Promise<void> {
    await this.#listing?.catch(() => {});
  }

  #listOnce(): Promise<void> {
    this.#listing ??= this.#list().finally(() => {
      this.#listing = undefined;
    });
    return this.#listing;
  }

  async #list(): Promise<void> {
    const startedAt = Date.now();
    try {
      const byVolume = new Map<string, string[]>();
      for (const path of await this.btrfs.subvolumesBelow(this.volumesPath)) {
        const [volume, ...rest] = relative(this.volumesPath, path).split(sep);
        if (volume === undefined || rest.length === 0) continue;
        byVolume.set(volume, [...(byVolume.get(volume) ?? []), rest.join(sep)]);
      }
      for (const list of byVolume.values()) list.sort();
      this.#byVolume = byVolume;
    } catch (error) {
      // Get still answers, without the nested subvolumes; the next Get tries again.
      this.logger.warn('could not list nested subvolumes', { error });
      this.#byVolume ??= new Map();
    } finally {
      this.#listedAt = startedAt;
    }
  }
}
