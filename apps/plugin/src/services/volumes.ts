import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';
import {
  NoSuchSnapshotError,
  NoSuchVolumeError,
  PluginError,
  VolumeExistsError,
  VolumeInUseError,
} from '../errors.js';
import { logged } from '../log.js';
import type { ServiceContext } from './context.js';
import { CreationTimes } from './creation-times.js';
import { pathExists } from './files.js';
import type { SnapshotService } from './snapshots.js';
import { VolumeList } from './volume-list.js';

/** Where a new volume's data comes from. */
export type VolumeSource =
  | { kind: 'volume'; name: VolumeName }
  | { kind: 'snapshot'; name: SnapshotName };

export interface CreateVolumeOptions {
  /** false: `chattr +C` on the new, empty subvolume. */
  copyOnWrite: boolean;
  /** A btrfs quota (qgroup limit) in bytes. */
  sizeBytes?: number | undefined;
  /** The new volume is a writable snapshot of this volume or snapshot. */
  from?: VolumeSource | undefined;
}

export interface VolumeStatus {
  createdAt: Date;
  copyOnWrite: boolean;
  quotaBytes?: number;
  usageBytes?: number;
  snapshots: number;
}

export interface VolumeDetails {
  name: VolumeName;
  mountpoint: string;
  createdAt: Date;
  status: VolumeStatus;
}

const QUOTA_TTL_MS = 2_000;
/** Volumes per warm-up step (one `lsattr` process); Docker's calls go first between steps. */
const WARM_BATCH = 1000;
const QUOTA_OFF_TTL_MS = 30_000;

/** Volumes in VOLUMES_PATH: Docker's VolumeDriver operations plus clone. */
export class VolumeService {
  readonly #list: VolumeList;
  // Get is called on every `docker run` and `docker volume inspect`: keep repeated calls free of
  // processes. The C flag only changes with the root's ctime (chattr) or birth time (a new
  // subvolume); quota numbers are refreshed every 2 s; creation times come from #times.
  readonly #flags = new Map<string, { key: string; copyOnWrite: boolean }>();
  readonly #times: CreationTimes;
  // Bumped when a volume is created, removed or replaced: flags read before that (by the
  // warmer, concurrently) are not stored.
  readonly #epochs = new Map<string, number>();
  readonly #quota = new Map<string, { at: number; limit?: number; usage?: number }>();
  #quotaOffUntil = 0;
  /** Docker's calls in progress: the warmer waits for them (it must never delay a request). */
  #busy = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly snapshots: SnapshotService,
  ) {
    this.#list = new VolumeList(ctx.layout.volumesPath, ctx.btrfs);
    this.#times = new CreationTimes(ctx.layout.volumesPath, ctx.btrfs, ctx.logger);
  }

  /** Names of the real subvolumes in VOLUMES_PATH (stray folders and files are not volumes). */
  list(): Promise<VolumeName[]> {
    return this.#tracked(() => this.#list.names());
  }

  exists(name: VolumeName): Promise<boolean> {
    return this.ctx.btrfs.isSubvolume(this.ctx.layout.volume(name));
  }

  /** Creates a volume; an existing one is left as it is (Docker re-sends Create). */
  async create(name: VolumeName, options: CreateVolumeOptions): Promise<{ created: boolean }> {
    const keys = options.from ? [name, volumeOf(options.from.name)] : [name];
    return this.ctx.locks.run(keys, () =>
      logged(this.ctx.logger, 'create', { volume: name, ...describeOptions(options) }, () =>
        this.#create(name, options),
      ),
    );
  }

  async #create(name: VolumeName, options: CreateVolumeOptions): Promise<{ created: boolean }> {
    const path = this.ctx.layout.volume(name);
    if (await this.ctx.btrfs.isSubvolume(path)) return { created: false };
    if (await pathExists(path)) {
      throw new PluginError(
        'VOLUME_EXISTS',
        `${path} exists but is not a btrfs subvolume: move it out of the volumes folder, then create the volume again`,
      );
    }
    if (options.from) {
      await this.ctx.btrfs.snapshot(await this.#sourcePath(options.from), path, {
        readonly: false,
      });
      this.#times.snapshotted(path);
    } else {
      await this.ctx.btrfs.createSubvolume(path, { nocow: !options.copyOnWrite });
      this.#times.fresh(path);
    }
    this.#list.touched(name);
    this.#bump(name);
    try {
      if (options.sizeBytes !== undefined) await this.#limit(path, options.sizeBytes);
    } catch (error) {
      // Nothing half-made: a volume without the quota it was asked for is not the volume asked for.
      await this.ctx.btrfs.deleteSubvolume(path).catch((cleanup: unknown) => {
        this.ctx.logger.error('could not remove a half-created volume', {
          volume: name,
          error: cleanup,
        });
      });
      throw error;
    }
    return { created: true };
  }

  async remove(name: VolumeName, force = false): Promise<void> {
    await this.ctx.locks.run(name, () =>
      logged(this.ctx.logger, 'remove', { volume: name, force }, async () => {
        const path = await this.#requireVolume(name);
        const ids = this.ctx.mounts.ids(name);
        if (ids.length > 0 && !force) throw new VolumeInUseError(name, ids);
        await this.ctx.btrfs.deleteSubvolume(path);
        this.#forget(name);
        this.#times.fresh(path);
        await this.ctx.mounts.forget(name);
      }),
    );
  }

  /** Records Docker's mount ID and answers the mountpoint. */
  async mount(name: VolumeName, id: string | undefined): Promise<string> {
    return this.ctx.locks.run(name, async () => {
      const path = await this.#requireVolume(name);
      if (id !== undefined) await this.ctx.mounts.add(name, id);
      return path;
    });
  }

  /** Forgets Docker's mount ID; an unknown volume or ID is not an error (3.x). */
  async unmount(name: VolumeName, id: string | undefined): Promise<void> {
    if (id === undefined) return;
    await this.ctx.locks.run(name, () => this.ctx.mounts.remove(name, id));
  }

  path(name: VolumeName): Promise<string> {
    return this.#tracked(() => this.#requireVolume(name));
  }

  async #tracked<T>(run: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await run();
    } finally {
      this.#busy--;
    }
  }

  get(name: VolumeName): Promise<VolumeDetails> {
    return this.#tracked(async () => {
      const path = await this.#requireVolume(name);
      const stats = await stat(path, { bigint: true });
      const [copyOnWrite, createdAt, quota, snapshots] = await Promise.all([
        this.#copyOnWrite(name, path, stats),
        this.#times.of(path, stats),
        this.#quotaOf(name, path),
        this.snapshots.count(name),
      ]);
      const status: VolumeStatus = { createdAt, copyOnWrite, snapshots };
      if (quota?.limit !== undefined) status.quotaBytes = quota.limit;
      if (quota?.usage !== undefined) status.usageBytes = quota.usage;
      return { name, mountpoint: path, createdAt, status };
    });
  }

  /**
   * Fills the Get cache for every volume not in it, so that the first Get of each volume after
   * a start is as cheap as a repeated one: one `btrfs subvolume list` for every creation time,
   * then the C flags with one `lsattr` per 1,000 volumes (~0.3 s for 10,000 volumes), pausing
   * between batches while Docker's calls are in progress. Stops when `signal` aborts.
   */
  async warm(options: { signal?: AbortSignal } = {}): Promise<number> {
    const { signal } = options;
    const names = (await this.#list.names()).filter((name) => !this.#flags.has(name));
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
    return warmed;
  }

  /** Resolves once no background work (a listing of snapshot times) is running. */
  settled(): Promise<void> {
    return this.#times.settled();
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
    let flags: Map<string, boolean>;
    try {
      flags = await this.ctx.btrfs.nocowFlags(seen.map(({ path }) => path));
    } catch (error) {
      this.ctx.logger.debug('warm-up skipped a batch of volumes', { error });
      return 0;
    }
    let warmed = 0;
    for (const { name, path, key, epoch } of seen) {
      const nocow = flags.get(path);
      if (nocow === undefined || (this.#epochs.get(name) ?? 0) !== epoch) continue;
      this.#flags.set(name, { key, copyOnWrite: !nocow });
      warmed++;
    }
    return warmed;
  }

  /** A new volume `target` as a writable snapshot of a volume or snapshot; never onto an existing one. */
  async clone(source: VolumeSource, target: VolumeName): Promise<void> {
    await this.ctx.locks.run([volumeOf(source.name), target], () =>
      logged(this.ctx.logger, 'clone', { source: source.name, target }, async () => {
        const targetPath = this.ctx.layout.volume(target);
        // 3.x let btrfs nest the copy inside an existing target; we refuse.
        if (await pathExists(targetPath)) throw new VolumeExistsError(target);
        await this.ctx.btrfs.snapshot(await this.#sourcePath(source), targetPath, {
          readonly: false,
        });
        this.#times.snapshotted(targetPath);
        this.#list.touched(target);
        this.#bump(target);
      }),
    );
  }

  /** Drop cached facts about a volume whose subvolume was replaced or removed (restore). */
  changed(name: VolumeName): void {
    this.#forget(name);
    this.#times.snapshotted(this.ctx.layout.volume(name));
  }

  #forget(name: VolumeName): void {
    this.#list.touched(name);
    this.#bump(name);
    this.#quota.delete(name);
  }

  #bump(name: string): void {
    this.#epochs.set(name, (this.#epochs.get(name) ?? 0) + 1);
    this.#flags.delete(name);
  }

  async #requireVolume(name: VolumeName): Promise<string> {
    const path = this.ctx.layout.volume(name);
    if (!(await this.ctx.btrfs.isSubvolume(path))) throw new NoSuchVolumeError(name);
    return path;
  }

  async #sourcePath(source: VolumeSource): Promise<string> {
    if (source.kind === 'volume') return this.#requireVolume(source.name);
    const path = this.ctx.layout.snapshot(source.name);
    if (!(await this.ctx.btrfs.isSubvolume(path))) throw new NoSuchSnapshotError(source.name);
    return path;
  }

  async #limit(path: string, bytes: number): Promise<void> {
    await this.ctx.btrfs.enableQuota(this.ctx.layout.volumesPath);
    this.#quotaOffUntil = 0;
    await this.ctx.btrfs.setQuotaLimit(path, bytes);
  }

  /** The C flag, one `lsattr` on a cache miss; cached until the root is replaced or chattr'ed. */
  async #copyOnWrite(name: string, path: string, stats: BigIntStats): Promise<boolean> {
    const key = flagKey(stats);
    const cached = this.#flags.get(name);
    if (cached?.key === key) return cached.copyOnWrite;
    const epoch = this.#epochs.get(name) ?? 0;
    const copyOnWrite = !(await this.ctx.btrfs.isNocow(path));
    if ((this.#epochs.get(name) ?? 0) === epoch) this.#flags.set(name, { key, copyOnWrite });
    return copyOnWrite;
  }

  async #quotaOf(
    name: string,
    path: string,
  ): Promise<{ limit?: number; usage?: number } | undefined> {
    const now = Date.now();
    if (now < this.#quotaOffUntil) return undefined;
    const cached = this.#quota.get(name);
    if (cached && now - cached.at < QUOTA_TTL_MS) return cached;
    const info = await this.ctx.btrfs.quota(path).catch((error: unknown) => {
      this.ctx.logger.debug('quota unavailable', { volume: name, error });
      return undefined;
    });
    if (info === undefined) {
      this.#quotaOffUntil = now + QUOTA_OFF_TTL_MS;
      return undefined;
    }
    const entry: { at: number; limit?: number; usage?: number } = {
      at: now,
      usage: info.referenced,
    };
    if (info.limit !== undefined) entry.limit = info.limit;
    this.#quota.set(name, entry);
    return entry;
  }
}

// A new subvolume has a new birth time; chattr moves the ctime.
function flagKey(stats: BigIntStats): string {
  return `${stats.birthtimeNs}:${stats.ctimeNs}`;
}

function volumeOf(name: VolumeName | SnapshotName | MarkerName): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

function describeOptions(options: CreateVolumeOptions): Record<string, unknown> {
  return {
    copyOnWrite: options.copyOnWrite,
    ...(options.sizeBytes === undefined ? {} : { sizeBytes: options.sizeBytes }),
    ...(options.from ? { from: options.from.name } : {}),
  };
}

export { volumeOf };
