import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileAttributes } from '@buttervolume/btrfs';
import type { VolumeName } from '@buttervolume/names';
import type { ServiceContext } from './context.js';
import { CreationTimes } from './creation-times.js';

const QUOTA_TTL_MS = 2_000;
/** Volumes per warm-up step (one `lsattr` process); Docker's calls go first between steps. */
const WARM_BATCH = 1000;
const QUOTA_OFF_TTL_MS = 30_000;

export interface QuotaFacts {
  limit?: number;
  usage?: number;
}

/**
 * What Get reports about a volume, kept so that repeated calls start no process: Get is called
 * on every `docker run` and `docker volume inspect`. The C flag only changes with the root's
 * ctime (chattr) or birth time (a new subvolume); quota numbers are refreshed every 2 s;
 * creation times come from CreationTimes. VolumeService tells it what changed.
 */
export class VolumeStatusCache {
  readonly #flags = new Map<string, { key: string; value: boolean }>();
  // Setting the property changes the root's ctime, so the C flag's key serves here too.
  readonly #compression = new Map<string, { key: string; value: string | undefined }>();
  readonly #times: CreationTimes;
  // Bumped when a volume is created, removed or replaced: flags read before that (by the
  // warmer, concurrently) are not stored.
  readonly #epochs = new Map<string, number>();
  readonly #quota = new Map<string, { at: number } & QuotaFacts>();
  /** lsattr or `btrfs property get` in progress, per flag and volume. */
  readonly #flagReads = new Map<string, Promise<unknown>>();
  /** `btrfs qgroup show` in progress, per volume. */
  readonly #quotaReads = new Map<string, Promise<QuotaFacts | undefined>>();
  #quotaVersion = 0;
  #quotaOffUntil = 0;
  /** Docker's calls in progress: the warmer waits for them (it must never delay a request). */
  #busy = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly names: () => Promise<VolumeName[]>,
  ) {
    this.#times = new CreationTimes(ctx.layout.volumesPath, ctx.btrfs, ctx.logger);
  }

  /**
   * What is already known of a volume, without touching the disk: the C flag once read, the
   * latest quota numbers. For status lists and metrics, which must stay cheap at 10,000 volumes.
   */
  /** Moves whenever a quota limit or usage cached() answers changes. */
  get quotaVersion(): number {
    return this.#quotaVersion;
  }

  cached(name: string): {
    copyOnWrite?: boolean;
    compression?: string;
    quotaBytes?: number;
    usageBytes?: number;
  } {
    const flags = this.#flags.get(name);
    const compression = this.#compression.get(name);
    const quota = this.#quota.get(name);
    return {
      ...(flags ? { copyOnWrite: flags.value } : {}),
      ...(compression ? { compression: compression.value ?? 'none' } : {}),
      ...(quota?.limit === undefined ? {} : { quotaBytes: quota.limit }),
      ...(quota?.usage === undefined ? {} : { usageBytes: quota.usage }),
    };
  }

  /** Runs one of Docker's calls; the warmer pauses while any is in progress. */
  async tracked<T>(run: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await run();
    } finally {
      this.#busy--;
    }
  }

  createdAt(path: string, stats: BigIntStats): Promise<Date> {
    return this.#times.of(path, stats);
  }

  /**
   * The C flag, one `lsattr` on a cache miss; cached until the root is replaced or chattr'ed.
   * A root whose ctime moved (chattr, but also every file made or deleted in the root by a
   * container) answers the flag known and is looked at again in the background: Get waited
   * 70 to 430 ms for lsattr and `btrfs property get` in the soak.
   */
  copyOnWrite(name: VolumeName, path: string, stats: BigIntStats): Promise<boolean> {
    return this.#flag(
      this.#flags,
      'C',
      name,
      stats,
      async () => !(await this.ctx.btrfs.isNocow(path)),
    );
  }

  /** The compression property, one `btrfs property get` on a miss; cached like the C flag. */
  compression(name: VolumeName, path: string, stats: BigIntStats): Promise<string | undefined> {
    return this.#flag(this.#compression, 'c', name, stats, () => this.ctx.btrfs.compression(path));
  }

  /**
   * A volume Create just made from scratch: its flags are what Create asked for, and its quota
   * numbers are asked now in the background, so that its first Get (Docker's, right after)
   * starts no process and waits for none. `stats` from after Create's last change to its root.
   */
  madeByCreate(
    name: VolumeName,
    path: string,
    stats: BigIntStats,
    flags: { copyOnWrite: boolean; compression: string | undefined },
  ): void {
    const key = flagKey(stats);
    this.#flags.set(name, { key, value: flags.copyOnWrite });
    this.#compression.set(name, { key, value: flags.compression });
    if (Date.now() >= this.#quotaOffUntil) void this.#readQuota(name, path);
  }

  async #flag<V>(
    cache: Map<string, { key: string; value: V }>,
    kind: string,
    name: VolumeName,
    stats: BigIntStats,
    read: () => Promise<V>,
  ): Promise<V> {
    const key = flagKey(stats);
    const cached = cache.get(name);
    if (cached?.key === key) return cached.value;
    const id = `${kind}:${name}`;
    let reading = this.#flagReads.get(id) as Promise<V> | undefined;
    if (reading === undefined) {
      const epoch = this.#epochs.get(name) ?? 0;
      reading = read().then((value) => {
        if ((this.#epochs.get(name) ?? 0) === epoch) cache.set(name, { key, value });
        return value;
      });
      const forget = () => this.#flagReads.delete(id);
      reading.then(forget, forget);
      this.#flagReads.set(id, reading);
    }
    // The same subvolume (its birth time): its flags as known, until the read tells.
    if (cached !== undefined && cached.key.split(':')[0] === key.split(':')[0]) {
      reading.catch(() => {}); // the next call reads again
      return cached.value;
    }
    return reading;
  }

  /**
   * Quota limit and usage, or undefined while quotas are off. Only a volume's first ask waits
   * for `btrfs qgroup show`: later ones answer the numbers known and ask again in the background
   * (every 2 s; every 30 s while quotas are off). During a purge, qgroup show waited 100 to
   * 400 ms in the kernel behind the deletes, and every Get of the volume waited with it.
   */
  async quota(name: VolumeName, path: string): Promise<QuotaFacts | undefined> {
    const now = Date.now();
    if (now < this.#quotaOffUntil) return undefined;
    const cached = this.#quota.get(name);
    if (cached && now - cached.at < QUOTA_TTL_MS) return cached;
    const reading = this.#readQuota(name, path);
    if (cached) return cached;
    // Seen off before: still off until the background ask says otherwise.
    if (this.#quotaOffUntil > 0) return undefined;
    return reading;
  }

  /** One `btrfs qgroup show` per volume at a time; never rejects. */
  #readQuota(name: VolumeName, path: string): Promise<QuotaFacts | undefined> {
    let reading = this.#quotaReads.get(name);
    if (reading === undefined) {
      reading = this.#askQuota(name, path).finally(() => this.#quotaReads.delete(name));
      this.#quotaReads.set(name, reading);
    }
    return reading;
  }

  async #askQuota(name: VolumeName, path: string): Promise<QuotaFacts | undefined> {
    const at = Date.now();
    const epoch = this.#epochs.get(name) ?? 0;
    const info = await this.ctx.btrfs.quota(path).catch((error: unknown) => {
      this.ctx.logger.debug('quota unavailable', { volume: name, error });
      return undefined;
    });
    if (info === undefined) {
      this.#quotaOffUntil = at + QUOTA_OFF_TTL_MS;
      return undefined;
    }
    const entry: { at: number } & QuotaFacts = { at, usage: info.referenced };
    if (info.limit !== undefined) entry.limit = info.limit;
    // Removed or replaced meanwhile: these numbers may be of the subvolume before.
    if ((this.#epochs.get(name) ?? 0) !== epoch) return entry;
    const cached = this.#quota.get(name);
    if (cached?.usage !== entry.usage || cached?.limit !== entry.limit) this.#quotaVersion++;
    this.#quota.set(name, entry);
    return entry;
  }

  /** Quotas were just enabled: ask btrfs again at once. */
  quotaEnabled(): void {
    this.#quotaOffUntil = 0;
  }

  /** A volume was made: from scratch (its birth time is its creation time) or as a snapshot. */
  created(name: VolumeName, path: string, how: 'fresh' | 'snapshot'): void {
    if (how === 'fresh') this.#times.fresh(path);
    else this.#times.snapshotted(path);
    this.#bump(name);
  }

  removed(name: VolumeName, path: string): void {
    this.#forget(name);
    this.#times.fresh(path);
  }

  /** A volume's subvolume was replaced by a snapshot (restore). */
  replaced(name: VolumeName, path: string): void {
    this.#forget(name);
    this.#times.snapshotted(path);
  }

  /**
   * Fills the cache for every volume not in it, so that the first Get of each volume after
   * a start is as cheap as a repeated one: one `btrfs subvolume list` for every creation time,
   * then the C and c flags (copy-on-write, compression) with one `lsattr` per 1,000 volumes (~0.3 s for 10,000 volumes), pausing
   * between batches while Docker's calls are in progress. Stops when `signal` aborts.
   */
  async warm(options: { signal?: AbortSignal } = {}): Promise<number> {
    const { signal } = options;
    const names = (await this.names()).filter((name) => !this.#flags.has(name));
    // Without the listing, Gets list on demand; the C flags are still worth warming.
    await this.#times.refresh().catch((error: unknown) => {
      this.ctx.logger.warn('could not list snapshot creation times', { error });
    });
    let warmed = 0;
    for (let start = 0; start < names.length; start += WARM_BATCH) {
      while (this.#busy > 0 && !signal?.aborted) await sleep(5);
      if (signal?.aborted) break;
      warmed += await this.#warmBatch(names.slice(start, start + WARM_BATCH));
    }
    // Whether quotas are on, asked once here: else the first Get after a start waits for it.
    const first = names[0];
    if (first !== undefined && !signal?.aborted && this.#quotaOffUntil === 0) {
      await this.#readQuota(first, this.ctx.layout.volume(first));
    }
    return warmed;
  }

  /** Resolves once no background work (a listing of snapshot times, a flag or quota ask) runs. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#quotaReads.values(), ...this.#flagReads.values()]);
    await this.#times.settled();
  }

  /** The C flags of some volumes into the cache; those gone or unreadable are skipped (Get will say). */
  async #warmBatch(names: readonly VolumeName[]): Promise<number> {
    const stated = await Promise.all(
      names.map(async (name) => {
        const path = this.ctx.layout.volume(name);
        const epoch = this.#epochs.get(name) ?? 0;
        const stats = await stat(path, { bigint: true }).catch(() => undefined);
        return stats && { name, path, key: flagKey(stats), epoch };
      }),
    );
    const seen = stated.filter((entry) => entry !== undefined);
    let attributes: Map<string, FileAttributes>;
    try {
      attributes = await this.ctx.btrfs.fileAttributes(seen.map(({ path }) => path));
    } catch (error) {
      this.ctx.logger.debug('warm-up skipped a batch of volumes', { error });
      return 0;
    }
    let warmed = 0;
    for (const { name, path, key, epoch } of seen) {
      const found = attributes.get(path);
      if (found === undefined || (this.#epochs.get(name) ?? 0) !== epoch) continue;
      this.#flags.set(name, { key, value: !found.nocow });
      // Without the c flag the property is unset or `none`, which Get reports alike: no
      // `btrfs property get` per volume (a process each) at the first Get after a start.
      if (!found.compressed) this.#compression.set(name, { key, value: undefined });
      warmed++;
    }
    return warmed;
  }

  #forget(name: VolumeName): void {
    this.#bump(name);
    if (this.#quota.delete(name)) this.#quotaVersion++;
  }

  #bump(name: VolumeName): void {
    this.#epochs.set(name, (this.#epochs.get(name) ?? 0) + 1);
    this.#flags.delete(name);
    this.#compression.delete(name);
  }
}

// A new subvolume has a new birth time; chattr moves the ctime.
function flagKey(stats: BigIntStats): string {
  return `${stats.birthtimeNs}:${stats.ctimeNs}`;
}
