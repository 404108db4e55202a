import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Btrfs } from '@buttervolume/btrfs';
import type { Logger } from '../log.js';

/** A folder changed behind our back is listed again at most this often (in the background). */
const RELIST_EVERY_MS = 10_000;
// A folder's mtime moves in clock ticks: a listing taken in the tick of a change may miss a
// second change in that tick (see dir-cache.ts).
const RACY_WINDOW_NS = 50_000_000n;
/** Our own changes remembered between two listings, at most (see #note). */
const MAX_NOTES = 1000;

/**
 * Creation times of the volumes (what Get reports as CreatedAt), without a process per volume.
 *
 * A subvolume made from scratch is born with its root folder, so the folder's birth time (statx
 * btime, free with the stat Get does anyway) is its creation time. A snapshot's root folder
 * keeps its *source's* birth time, so for snapshots (clones, restores, Create with `from`) the
 * creation time is btrfs' otime, which one `btrfs subvolume list` gives for every snapshot of
 * the filesystem at once (~20 ms at 10,000 subvolumes, against ~80 ms for one `subvolume show`).
 *
 * That listing is kept. Volumes this daemon makes or replaces are noted: a fresh one needs no
 * listing, a snapshot waits for a listing started after it was made. Changes made behind our
 * back (a user's `btrfs subvolume snapshot` into VOLUMES_PATH) move the folder's mtime and are
 * listed in the background, at most every RELIST_EVERY_MS; until then such a snapshot shows its
 * source's birth time.
 */
export class CreationTimes {
  #snapshots: Map<string, Date> | undefined;
  #folder: { mtimeNs: bigint; ctimeNs: bigint; takenAtNs: bigint } | undefined;
  /**
   * Counts our changes (and requests for a new listing); #listedSeq is its value when the last
   * completed listing started: everything counted up to it is in that listing.
   */
  #listedSeq = -1;
  #seq = 0;
  #listing: Promise<void> | undefined;
  #checkedAt = 0;
  #background: Promise<void> | undefined;
  readonly #changes = new Map<string, { seq: number; snapshot: boolean }>();

  constructor(
    private readonly dir: string,
    private readonly btrfs: Pick<Btrfs, 'snapshotTimes'>,
    private readonly logger: Logger,
    private readonly relistEveryMs = RELIST_EVERY_MS,
  ) {}

  /** When the volume at `path` was created, to the second, given its (bigint) stat. */
  async of(path: string, stats: BigIntStats): Promise<Date> {
    const born = wholeSeconds(stats.birthtimeNs);
    const change = this.#changes.get(path);
    try {
      if (change?.snapshot || this.#snapshots === undefined) {
        await this.#listedSince(change?.seq ?? 0);
      } else {
        this.#relistIfChanged();
        if (change) return born;
      }
    } catch (error) {
      // CreatedAt is worth an answer, not a failed Get: the birth time is right for most volumes.
      this.logger.warn('snapshot times unavailable', { path, error });
      return born;
    }
    return this.#snapshots?.get(path) ?? born;
  }

  /** Lists every snapshot's creation time now (the warm-up at start). */
  refresh(): Promise<void> {
    return this.#listedSince(++this.#seq);
  }

  /** Resolves when no listing is running (the daemon waits for it before it stops). */
  async settled(): Promise<void> {
    await this.#background;
    await this.#listing?.catch(() => {});
  }

  /** We made `path` from scratch, or removed it: its birth time is the truth, no listing needed. */
  fresh(path: string): void {
    this.#note(path, false);
  }

  /** We made or replaced `path` with a snapshot (clone, restore, `from`): it needs a new listing. */
  snapshotted(path: string): void {
    this.#note(path, true);
  }

  #note(path: string, snapshot: boolean): void {
    this.#changes.set(path, { seq: ++this.#seq, snapshot });
    // Notes are dropped by the next listing; without Gets to start one, bound them here.
    if (this.#changes.size > MAX_NOTES && this.#listing === undefined) {
      this.#inBackground(() => this.#listedSince(this.#seq));
    }
  }

  async #listedSince(seq: number): Promise<void> {
    // One listing at a time; one that started before change `seq` does not know about it.
    while (this.#listedSeq < seq) {
      this.#listing ??= this.#list().finally(() => {
        this.#listing = undefined;
      });
      await this.#listing;
    }
  }

  async #list(): Promise<void> {
    const seq = this.#seq;
    const startedAt = Date.now();
    this.#checkedAt = startedAt;
    const folder = await stat(this.dir, { bigint: true });
    this.#snapshots = await this.btrfs.snapshotTimes(this.dir);
    this.#folder = {
      mtimeNs: folder.mtimeNs,
      ctimeNs: folder.ctimeNs,
      takenAtNs: BigInt(startedAt) * 1_000_000n,
    };
    this.#listedSeq = seq;
    for (const [path, change] of this.#changes) {
      if (change.seq <= seq) this.#changes.delete(path);
    }
  }

  #relistIfChanged(): void {
    if (this.#listing !== undefined || Date.now() - this.#checkedAt < this.relistEveryMs) return;
    this.#checkedAt = Date.now();
    const check = async () => {
      const now = await stat(this.dir, { bigint: true });
      const then = this.#folder;
      const unchanged =
        then !== undefined &&
        now.mtimeNs === then.mtimeNs &&
        now.ctimeNs === then.ctimeNs &&
        then.takenAtNs - now.mtimeNs > RACY_WINDOW_NS;
      if (!unchanged) await this.#listedSince(++this.#seq);
    };
    this.#inBackground(check);
  }

  #inBackground(work: () => Promise<void>): void {
    const previous = this.#background;
    const current: Promise<void> = work()
      .catch((error: unknown) => {
        this.logger.debug('background listing of snapshot times failed', { error });
      })
      .then(() => previous)
      .finally(() => {
        if (this.#background === current) this.#background = undefined;
      });
    this.#background = current;
  }
}

/** Nanoseconds to a Date to the second: the precision btrfs keeps otime with. */
function wholeSeconds(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000_000n) * 1000);
}
