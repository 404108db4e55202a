import { type HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import {
  type RemotePurgeResult,
  ReplicationError,
  type Replicator,
  type SendResult,
  SyncFailedError,
} from '@buttervolume/replication';
import type { RetentionPolicy } from '@buttervolume/retention';
import { NoSuchSnapshotError, NoSuchVolumeError, PluginError } from '../errors.js';
import { logged } from '../log.js';
import type { ServiceContext } from './context.js';
import type { SnapshotService } from './snapshots.js';

/** A send in flight, as GET /Buttervolume.Transfers shows it. */
export interface TransferView {
  snapshot: SnapshotName;
  host: HostName;
  bytes: number;
  elapsedMs: number;
  rateBytesPerSec: number;
}

export interface SendRequestOptions {
  /** false forces a full send (default true: incremental from the newest marker). */
  incremental?: boolean;
  /** Applied to the host's copies of the volume once the snapshot is there. */
  purge?: RetentionPolicy;
  signal?: AbortSignal;
}

/** A send, and the purge on the host that followed it when one was asked for. */
export type SendOutcome = SendResult & { hostPurge?: RemotePurgeResult };

/** How every send and sync travels (SSH_COMPRESSION, SSH_BANDWIDTH_LIMIT). */
export interface TransportSettings {
  /** `ssh -C` for sends, `rsync -z` for syncs. */
  compress?: boolean;
  /** Average send rate, bytes per second. */
  bandwidthLimit?: number;
}

/** How one send ended; the daemon keeps the latest per (volume, host) in the scheduler state. */
export type SendRecord = { volume: VolumeName; host: HostName; snapshot: SnapshotName } & (
  | { ok: true; bytes: number; incremental: boolean; durationMs: number; alreadyPresent: boolean }
  | { ok: false; error: string }
);

export interface ReplicationHooks {
  /** After every send that started, successful or not. */
  onSend?: (record: SendRecord) => void;
}

export interface SyncRequestOptions {
  /** rsync --delete: drop local files the host does not have. */
  delete?: boolean;
  /** Stops the pull (the scheduler's job timeout or shutdown). */
  signal?: AbortSignal;
}

/** One host that failed one volume's sync. */
export interface SyncHostError {
  volume: VolumeName;
  host: string;
  message: string;
}

export interface SyncOutcome {
  /** Safety snapshots taken (one per volume) before rsync overwrote anything. */
  snapshots: SnapshotName[];
  errors: SyncHostError[];
}

/**
 * Send and sync for the HTTP routes and the scheduler, over the daemon's one Replicator (so
 * requested and scheduled sends of the same (volume, host) queue behind each other).
 */
export class ReplicationService {
  readonly #inFlight = new Map<
    number,
    { snapshot: SnapshotName; host: HostName; started: number; bytes: number }
  >();
  #nextId = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly snapshots: SnapshotService,
    // What it uses of the daemon's one Replicator: a test can hand in a stand-in.
    private readonly replicator: Pick<Replicator, 'send' | 'sync' | 'close' | 'purgeRemote'>,
    private readonly transport: TransportSettings = {},
    private readonly hooks: ReplicationHooks = {},
  ) {}

  /**
   * Sends a snapshot to a host. No volume lock: the snapshot is read-only, and the Replicator
   * serialises the marker updates per (volume, host).
   */
  async send(
    snapshot: SnapshotName,
    host: HostName,
    options: SendRequestOptions = {},
  ): Promise<SendOutcome> {
    if (!(await this.snapshots.exists(snapshot))) throw new NoSuchSnapshotError(snapshot);
    const id = this.#nextId++;
    const entry = { snapshot, host, started: performance.now(), bytes: 0 };
    this.#inFlight.set(id, entry);
    const { volume } = SnapshotName.split(snapshot, { format: this.ctx.dtFormat });
    try {
      const result = await logged(this.ctx, 'send', { snapshot, host }, () =>
        this.replicator.send(snapshot, host, {
          ...this.transport,
          ...(options.incremental === undefined ? {} : { incremental: options.incremental }),
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (progress) => {
            entry.bytes = progress.bytes;
          },
        }),
      );
      const done = {
        bytes: result.bytes,
        incremental: result.incremental,
        durationMs: Math.round(result.durationMs),
        alreadyPresent: result.alreadyPresent,
      };
      // Stable event for log-based alerting and audit: what reached which host.
      this.ctx.logger.info('send completed', {
        event: 'send.completed',
        volume,
        host,
        snapshot,
        ...done,
      });
      this.hooks.onSend?.({ volume, host, snapshot, ok: true, ...done });
      if (options.purge === undefined) return result;
      try {
        const hostPurge = await this.purgeHost(volume, host, options.purge, {
          ...(options.signal ? { signal: options.signal } : {}),
        });
        return { ...result, hostPurge };
      } catch (error) {
        throw new PluginError(
          'HOST_PURGE_FAILED',
          `${snapshot} reached ${host}, but the purge of its copies there failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
    } catch (error) {
      if (error instanceof PluginError && error.code === 'HOST_PURGE_FAILED') throw error;
      const message = error instanceof Error ? error.message : String(error);
      this.hooks.onSend?.({ volume, host, snapshot, ok: false, error: message });
      throw error;
    } finally {
      this.#inFlight.delete(id);
      // The marker changed in SNAPSHOTS_PATH.
      this.snapshots.invalidate();
    }
  }

  /**
   * Applies a retention policy to `host`'s copies of `volume` (`purge --host`, and after a
   * send that asks for it). Queued with the sends of that (volume, host) by the Replicator.
   */
  async purgeHost(
    volume: VolumeName,
    host: HostName,
    policy: RetentionPolicy,
    options: { dryRun?: boolean; signal?: AbortSignal } = {},
  ): Promise<RemotePurgeResult> {
    const dryRun = options.dryRun ?? false;
    const result = await logged(
      this.ctx,
      'purge',
      { volume, host, pattern: policy.text, dryrun: dryRun },
      () =>
        this.replicator.purgeRemote(volume, host, policy, {
          dryRun,
          now: this.ctx.now(),
          ...(options.signal ? { signal: options.signal } : {}),
        }),
    );
    if (!dryRun) {
      this.ctx.logger.info('host purge completed', {
        event: 'purge.host.completed',
        volume,
        host,
        purged: result.purged.length,
        durationMs: Math.round(result.durationMs),
      });
    }
    return result;
  }

  /**
   * Pulls each volume from the same-named volume on each host (rsync). Every volume must exist
   * here before anything starts. Per volume, under its job lock: a safety snapshot first (rsync
   * overwrites the content), then each host in turn; a failing host does not stop the others.
   */
  async sync(
    volumes: readonly VolumeName[],
    hosts: readonly HostName[],
    options: SyncRequestOptions = {},
  ): Promise<SyncOutcome> {
    for (const volume of volumes) {
      if (!(await this.ctx.btrfs.isSubvolume(this.ctx.layout.volume(volume)))) {
        throw new NoSuchVolumeError(volume);
      }
    }
    const outcome: SyncOutcome = { snapshots: [], errors: [] };
    for (const volume of volumes) {
      await this.ctx.locks.job(volume, 'sync', () =>
        logged(this.ctx, 'sync', { volume, hosts: hosts.join(',') }, async () => {
          outcome.snapshots.push(await this.snapshots.create(volume));
          outcome.errors.push(...(await this.pullLocked(volume, hosts, options)));
        }),
      );
    }
    return outcome;
  }

  /**
   * rsync only, for a caller that holds the volume's job lock and took its own safety snapshot
   * (the scheduler's synchronize job). Throws SyncFailedError naming every failed host.
   */
  async syncLocked(
    volume: VolumeName,
    hosts: readonly HostName[],
    options: SyncRequestOptions = {},
  ): Promise<void> {
    await this.replicator.sync(volume, hosts, {
      ...(options.delete ? { delete: true } : {}),
      ...(this.transport.compress ? { compress: true } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** rsync under the job lock the caller holds; failures come back per host instead of thrown. */
  async pullLocked(
    volume: VolumeName,
    hosts: readonly HostName[],
    options: SyncRequestOptions = {},
  ): Promise<SyncHostError[]> {
    try {
      await this.syncLocked(volume, hosts, options);
      return [];
    } catch (error) {
      if (error instanceof SyncFailedError) {
        return error.failures.map((f) => ({ volume, host: f.host ?? '', message: f.message }));
      }
      if (error instanceof ReplicationError && error.code === 'NO_SUCH_VOLUME') {
        throw new NoSuchVolumeError(volume);
      }
      throw error;
    }
  }

  /** Sends in flight, oldest first. */
  transfers(): TransferView[] {
    const now = performance.now();
    return [...this.#inFlight.values()].map((t) => {
      const elapsedMs = Math.max(0, now - t.started);
      return {
        snapshot: t.snapshot,
        host: t.host,
        bytes: t.bytes,
        elapsedMs: Math.round(elapsedMs),
        rateBytesPerSec: elapsedMs > 0 ? Math.round((t.bytes * 1000) / elapsedMs) : 0,
      };
    });
  }

  /** Closes the shared ssh connections (daemon shutdown). */
  close(): Promise<void> {
    return this.replicator.close();
  }
}
