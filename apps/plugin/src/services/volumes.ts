import { lstat, stat } from 'node:fs/promises';
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
/** Processes the warm-up runs at once: enough to finish 10,000 volumes in a minute or so. */
const WARM_CONCURRENCY = 2;
const QUOTA_OFF_TTL_MS = 30_000;

/** Volumes in VOLUMES_PATH: Docker's VolumeDriver operations plus clone. */
export class VolumeService {
  readonly #list: VolumeList;
  // Get is called on every `docker run` and `docker volume inspect`: keep repeated calls free of
  // processes. Creation time and C flag only change with the root's ctime (or a restore, which
  // calls changed()); quota numbers are refreshed every 2 s.
  readonly #facts = new Map<string, { key: string; copyOnWrite: boolean; createdAt: Date }>();
  // Bumped when a volume is created, removed or replaced: facts computed before that (by the
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
    } else {
      await this.ctx.btrfs.createSubvolume(path, { nocow: !options.copyOnWrite });
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
      const [{ copyOnWrite, createdAt }, quota, snapshots] = await Promise.all([
        this.#factsOf(name, path),
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
   * Fills the Get cache (creation time, C flag: a process each) for every volume not in it,
   * `concurrency` at a time, pausing while Docker's calls are in progress, so that the first
   * Get of each volume after a start is as cheap as a repeated one. Stops when `signal` aborts.
   */
  async warm(options: { concurrency?: number; signal?: AbortSignal } = {}): Promise<number> {
    const { signal } = options;
    const queue = (await this.#list.names()).filter((name) => !this.#facts.has(name));
    let warmed = 0;
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        while (this.#busy > 0 && !signal?.aborted) await sleep(5);
        if (signal?.aborted) return;
        if (await this.#warmOne(name)) warmed++;
      }
    };
    const width = Math.max(1, options.concurrency ?? WARM_CONCURRENCY);
    await Promise.all(Array.from({ length: Math.min(width, queue.length) }, worker));
    return warmed;
  }

  /** One volume's facts into the cache; false when it is gone or unreadable (Get will say). */
  async #warmOne(name: VolumeName): Promise<boolean> {
    try {
      const path = this.ctx.layout.volume(name);
      if (!(await this.ctx.btrfs.isSubvolume(path))) return false;
      await this.#factsOf(name, path);
      return true;
    } catch (error) {
      this.ctx.logger.debug('warm-up skipped a volume', { volume: name, error });
      return false;
    }
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
        this.#list.touched(target);
        this.#bump(target);
      }),
    );
  }

  /** Drop cached facts about a volume whose subvolume was replaced or removed (restore). */
  changed(name: VolumeName): void {
    this.#forget(name);
  }

  #forget(name: VolumeName): void {
    this.#list.touched(name);
    this.#bump(name);
    this.#quota.delete(name);
  }

  #bump(name: string): void {
    this.#epochs.set(name, (this.#epochs.get(name) ?? 0) + 1);
    this.#facts.delete(name);
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

  // A snapshot's root inode keeps its source's birth time, so the subvolume's own creation
  // time comes from `btrfs subvolume show`; both it and the C flag cost a process, hence cached
  // under the root's birth and change times (a replaced subvolume or a chattr changes them).
  async #factsOf(name: string, path: string): Promise<{ copyOnWrite: boolean; createdAt: Date }> {
    const stats = await stat(path, { bigint: true });
    const key = `${stats.birthtimeNs}:${stats.ctimeNs}`;
    const cached = this.#facts.get(name);
    if (cached?.key === key) return cached;
    const epoch = this.#epochs.get(name) ?? 0;
    const [nocow, info] = await Promise.all([
      this.ctx.btrfs.isNocow(path),
      this.ctx.btrfs.show(path),
    ]);
    const facts = { key, copyOnWrite: !nocow, createdAt: info.creationTime ?? new Date(0) };
    if ((this.#epochs.get(name) ?? 0) === epoch) this.#facts.set(name, facts);
    return facts;
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

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export { volumeOf };
