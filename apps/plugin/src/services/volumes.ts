import type { BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Compression } from '@buttervolume/btrfs';
import { type VolumeName, type VolumeSource, volumeOf } from '@buttervolume/names';
import {
  NoSuchSnapshotError,
  NoSuchVolumeError,
  PluginError,
  VolumeBusyError,
  VolumeExistsError,
  VolumeInUseError,
} from '../errors.js';
import { logged } from '../log.js';
import type { ServiceContext } from './context.js';
import { pathExists } from './files.js';
import { usersOf } from './in-use.js';
import type { SnapshotService } from './snapshots.js';
import type { VolumeList } from './volume-list.js';
import type { VolumeStatusCache } from './volume-status.js';

export interface CreateVolumeOptions {
  /** false: `chattr +C` on the new, empty subvolume. */
  copyOnWrite: boolean;
  /** A btrfs quota (qgroup limit) in bytes. */
  sizeBytes?: number | undefined;
  /** The new volume is a writable snapshot of this volume or snapshot. */
  from?: VolumeSource | undefined;
  /** btrfs compression of new writes; a clone without it keeps its source's. */
  compression?: Compression | undefined;
}

export interface VolumeStatus {
  createdAt: Date;
  copyOnWrite: boolean;
  /** The btrfs compression property, when set (and not `none`). */
  compression?: string;
  quotaBytes?: number;
  usageBytes?: number;
  snapshots: number;
  /** Subvolumes nested in the volume (relative paths), which its snapshots do not contain. */
  nestedSubvolumes?: string[];
}

export interface VolumeDetails {
  name: VolumeName;
  mountpoint: string;
  createdAt: Date;
  status: VolumeStatus;
}

/** Volumes in VOLUMES_PATH: Docker's VolumeDriver operations plus clone. */
export class VolumeService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly snapshots: SnapshotService,
    /** What Get reports, cached; told here about every change this service makes. */
    private readonly status: VolumeStatusCache,
    private readonly listing: VolumeList,
  ) {}

  /** Names of the real subvolumes in VOLUMES_PATH (stray folders and files are not volumes). */
  list(): Promise<VolumeName[]> {
    return this.status.tracked(() => this.listing.names());
  }

  exists(name: VolumeName): Promise<boolean> {
    return this.ctx.btrfs.isSubvolume(this.ctx.layout.volume(name));
  }

  /** Creates a volume; an existing one is left as it is (Docker re-sends Create). */
  async create(name: VolumeName, options: CreateVolumeOptions): Promise<{ created: boolean }> {
    const reading = options.from ? [volumeOf(options.from.name)] : [];
    return this.ctx.locks.change(
      name,
      () =>
        logged(this.ctx, 'create', { volume: name, ...describeOptions(options) }, () =>
          this.#create(name, options),
        ),
      { reading },
    );
  }

  async #create(name: VolumeName, options: CreateVolumeOptions): Promise<{ created: boolean }> {
    // Its data may be aside under a restore's name: a new empty volume would hide that.
    this.ctx.attention.check(name);
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
      this.status.created(name, path, 'snapshot');
    } else {
      await this.ctx.btrfs.createSubvolume(path, { nocow: !options.copyOnWrite });
      this.status.created(name, path, 'fresh');
    }
    this.listing.touched(name);
    try {
      if (options.compression) await this.ctx.btrfs.setCompression(path, options.compression);
      if (options.sizeBytes !== undefined) await this.#limit(path, options.sizeBytes);
      if (!options.from) {
        this.status.madeByCreate(name, path, await stat(path, { bigint: true }), {
          copyOnWrite: options.copyOnWrite,
          compression: options.compression,
        });
      }
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
    await this.ctx.locks.change(name, () =>
      logged(this.ctx, 'remove', { volume: name, force }, async () => {
        const path = await this.#requireVolume(name);
        // Never wait for a job: answer what writes the volume (a purge only touches snapshots).
        const job = this.ctx.locks.contentJobOf(name);
        if (job !== undefined) throw new VolumeBusyError(name, job);
        if (!force) await this.#requireUnused(name, path);
        // Nested subvolumes (Docker-in-Docker) are the volume's content: they go with it.
        const nested = await this.ctx.btrfs.deleteSubvolume(path, { recursive: true });
        if (nested.length > 0) {
          this.ctx.logger.info('deleted nested subvolumes with the volume', {
            volume: name,
            nested: nested.length,
          });
        }
        this.listing.touched(name);
        this.status.removed(name, path);
        this.ctx.nested.forget(name);
        await this.ctx.mounts.forget(name);
      }),
    );
  }

  /**
   * Remove refuses a volume the kernel shows mounted anywhere. Docker's mount IDs with no such
   * mount are stale (an Unmount missed while the daemon was down): dropped, so that Docker's
   * Remove of a volume it no longer uses succeeds.
   */
  async #requireUnused(name: VolumeName, path: string): Promise<void> {
    const { ids, mounts, kernelKnown } = await usersOf(this.ctx, name, path);
    if (mounts.length > 0) throw new VolumeInUseError(name, ids, mounts);
    if (ids.length === 0) return;
    if (!kernelKnown) throw new VolumeInUseError(name, ids);
    this.ctx.logger.warn('dropping stale mount IDs: the volume is mounted nowhere', {
      volume: name,
      ids,
    });
    await this.ctx.mounts.forget(name);
  }

  /** Records Docker's mount ID and answers the mountpoint. */
  async mount(name: VolumeName, id: string | undefined): Promise<string> {
    return this.ctx.locks.read(name, async () => {
      const path = await this.#requireVolume(name);
      if (id !== undefined) await this.ctx.mounts.add(name, id);
      return path;
    });
  }

  /** Forgets Docker's mount ID; an unknown volume or ID is not an error (3.x). */
  async unmount(name: VolumeName, id: string | undefined): Promise<void> {
    if (id === undefined) return;
    await this.ctx.locks.read(name, () => this.ctx.mounts.remove(name, id));
  }

  path(name: VolumeName): Promise<string> {
    return this.status.tracked(() => this.ctx.locks.read(name, () => this.#requireVolume(name)));
  }

  get(name: VolumeName): Promise<VolumeDetails> {
    return this.status.tracked(() => this.ctx.locks.read(name, () => this.#get(name)));
  }

  async #get(name: VolumeName): Promise<VolumeDetails> {
    {
      const { path, stats } = await this.#volumeRoot(name);
      const [copyOnWrite, compression, createdAt, quota, snapshots, nested] = await Promise.all([
        this.status.copyOnWrite(name, path, stats),
        this.status.compression(name, path, stats),
        this.status.createdAt(path, stats),
        this.status.quota(name, path),
        this.snapshots.count(name),
        this.ctx.nested.of(name),
      ]);
      const status: VolumeStatus = { createdAt, copyOnWrite, snapshots };
      if (nested.length > 0) status.nestedSubvolumes = nested;
      if (compression !== undefined && compression !== 'none') status.compression = compression;
      if (quota?.limit !== undefined) status.quotaBytes = quota.limit;
      if (quota?.usage !== undefined) status.usageBytes = quota.usage;
      return { name, mountpoint: path, createdAt, status };
    }
  }

  /** A new volume `target` as a writable snapshot of a volume or snapshot; never onto an existing one. */
  async clone(source: VolumeSource, target: VolumeName): Promise<void> {
    const clone = () =>
      logged(this.ctx, 'clone', { source: source.name, target }, async () => {
        this.ctx.attention.check(target);
        const targetPath = this.ctx.layout.volume(target);
        // 3.x let btrfs nest the copy inside an existing target; we refuse.
        if (await pathExists(targetPath)) throw new VolumeExistsError(target);
        await this.ctx.btrfs.snapshot(await this.#sourcePath(source), targetPath, {
          readonly: false,
        });
        this.status.created(target, targetPath, 'snapshot');
        this.listing.touched(target);
      });
    await this.ctx.locks.change(target, clone, { reading: [volumeOf(source.name)] });
  }

  /** Drop cached facts about a volume whose subvolume was replaced (restore). */
  changed(name: VolumeName): void {
    this.listing.touched(name);
    this.status.replaced(name, this.ctx.layout.volume(name));
    this.ctx.nested.forget(name);
  }

  async #requireVolume(name: VolumeName): Promise<string> {
    return (await this.#volumeRoot(name)).path;
  }

  /** The volume's path and its root's stats (one lstat for Docker's frequent calls). */
  async #volumeRoot(name: VolumeName): Promise<{ path: string; stats: BigIntStats }> {
    this.ctx.attention.check(name);
    const path = this.ctx.layout.volume(name);
    const stats = await this.ctx.btrfs.subvolumeRoot(path);
    if (stats === undefined) throw new NoSuchVolumeError(name);
    return { path, stats };
  }

  async #sourcePath(source: VolumeSource): Promise<string> {
    if (source.kind === 'volume') return this.#requireVolume(source.name);
    const path = this.ctx.layout.snapshot(source.name);
    if (!(await this.ctx.btrfs.isSubvolume(path))) throw new NoSuchSnapshotError(source.name);
    return path;
  }

  async #limit(path: string, bytes: number): Promise<void> {
    await this.ctx.btrfs.enableQuota(this.ctx.layout.volumesPath);
    this.status.quotaEnabled();
    await this.ctx.btrfs.setQuotaLimit(path, bytes);
  }
}

function describeOptions(options: CreateVolumeOptions): Record<string, unknown> {
  return {
    copyOnWrite: options.copyOnWrite,
    ...(options.compression ? { compression: options.compression } : {}),
    ...(options.sizeBytes === undefined ? {} : { sizeBytes: options.sizeBytes }),
    ...(options.from ? { from: options.from.name } : {}),
  };
}
