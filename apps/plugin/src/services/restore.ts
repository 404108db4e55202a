import { randomBytes } from 'node:crypto';
import { readdir, rename } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { syncDirectory } from '@buttervolume/files';
import { type SnapshotName, VolumeName, type VolumeSource, volumeOf } from '@buttervolume/names';
import { NestedSubvolumesInVolumeError, PluginError, VolumeInUseError } from '../errors.js';
import { logged } from '../log.js';
import type { RestoreStep, ServiceContext } from './context.js';
import { pathExists, readJsonOrUndefined, removeDurably, writeStateFile } from './files.js';
import { usersOf } from './in-use.js';
import { resolveSnapshot, type SnapshotService } from './snapshots.js';
import type { VolumeService } from './volumes.js';

export interface RestoreRequest {
  /** A snapshot, or a volume whose latest snapshot is restored. */
  source: VolumeSource;
  /** The volume to replace; default: the snapshot's own volume. */
  target?: VolumeName | undefined;
  force?: boolean | undefined;
}

export interface RestoreResult {
  restored: SnapshotName;
  target: VolumeName;
  /** The snapshot of the target taken before it was replaced; none when the target did not exist. */
  volumeBackup: SnapshotName | undefined;
}

/** Written (fsync'ed) before the first change to VOLUMES_PATH, removed after the last. */
interface Journal {
  version: 1;
  target: string;
  snapshot: string;
  backup: string | null;
  id: string;
  startedAt: string;
}

const JOURNAL_RE = /^\.buttervolume-restore-(.+)\.json$/;
const ID_RE = /^[0-9a-f]{12}$/;

/**
 * Replaces a volume by a snapshot without ever losing data, even when the daemon is killed
 * half-way: backup snapshot, journal, writable copy under a hidden staging name, old volume
 * renamed aside, staging renamed into place, old one deleted, journal removed. At start,
 * recover() finishes or rolls back whatever a journal says was under way.
 */
export class RestoreService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly volumes: VolumeService,
    private readonly snapshots: SnapshotService,
  ) {}

  async restore(request: RestoreRequest): Promise<RestoreResult> {
    const sourceVolume = volumeOf(request.source.name);
    const target = request.target ?? sourceVolume;
    // The job lock keeps syncs and purges off both volumes for the whole restore; Docker's
    // calls on the target wait only for the swap itself, under the structural lock.
    return this.ctx.locks.job([sourceVolume, target], 'restore', () =>
      this.ctx.locks.change(
        target,
        () =>
          logged(this.ctx, 'restore', { source: request.source.name, target }, () =>
            this.#restore(request, target),
          ),
        { reading: [sourceVolume] },
      ),
    );
  }

  async #restore(request: RestoreRequest, target: VolumeName): Promise<RestoreResult> {
    const { layout, btrfs } = this.ctx;
    this.ctx.attention.check(target);
    const snapshot = await resolveSnapshot(this.snapshots, request.source);
    const targetPath = layout.volume(target);
    const targetExists = await btrfs.isSubvolume(targetPath);
    if (!targetExists && (await pathExists(targetPath))) {
      throw new PluginError(
        'VOLUME_EXISTS',
        `${targetPath} exists but is not a btrfs subvolume: move it out of the volumes folder first`,
      );
    }
    if (targetExists && !request.force) {
      // Stale IDs block a restore too (Force overrides): a starting container has an ID before
      // it has a mount.
      const { ids, mounts } = await usersOf(this.ctx, target, targetPath);
      if (ids.length > 0 || mounts.length > 0) throw new VolumeInUseError(target, ids, mounts);
    }
    if (targetExists) {
      // No snapshot holds nested subvolumes: neither the backup nor the restored copy would.
      const nested = await this.ctx.nested.check(target, targetPath);
      if (nested.length > 0) throw new NestedSubvolumesInVolumeError(target, nested);
    }

    const backup = targetExists ? await this.snapshots.createLocked(target) : undefined;
    await this.#step('backup');
    const id = randomBytes(6).toString('hex');
    const journalPath = layout.restoreJournal(target);
    const journal: Journal = {
      version: 1,
      target,
      snapshot,
      backup: backup ?? null,
      id,
      startedAt: this.ctx.now().toISOString(),
    };
    try {
      await writeStateFile(journalPath, `${JSON.stringify(journal)}\n`);
    } catch (error) {
      // Nothing has changed but the backup: take it away again (a full disk fails here).
      if (backup !== undefined) await this.#dropBackup(backup, error);
      throw new PluginError(
        'RESTORE_NOT_STARTED',
        `${target} was not restored: the restore journal ${journalPath} could not be written (${(error as Error).message}); free space on that filesystem, then retry`,
        { cause: error },
      );
    }
    await this.#step('journal');
    try {
      const staging = layout.restoreStaging(target, id);
      const old = layout.restoreOld(target, id);
      await btrfs.snapshot(layout.snapshot(snapshot), staging, { readonly: false });
      await this.#step('staging');
      if (targetExists) {
        await rename(targetPath, old);
        await syncDirectory(layout.volumesPath);
        await this.#step('aside');
      }
      await rename(staging, targetPath);
      await syncDirectory(layout.volumesPath);
      this.volumes.changed(target);
      await this.#step('in-place');
      if (targetExists) {
        await this.#deleteReplaced(old, target);
        await this.#step('old-deleted');
      }
      await removeDurably(journalPath);
    } catch (error) {
      // Same path as after a crash: the journal says what to finish or undo.
      await this.recoverJournal(journalPath).catch((recovery: unknown) => {
        this.#needsAttention(target, journalPath, recovery);
      });
      throw error;
    } finally {
      this.volumes.changed(target);
    }
    return { restored: snapshot, target, volumeBackup: backup };
  }

  /**
   * Finishes or rolls back every restore a killed daemon left half-done. Run before serving.
   * Never throws for one journal: a volume whose restore cannot be brought to an end is marked
   * as needing attention (its calls say what to do) and the others are served.
   */
  async recover(): Promise<string[]> {
    const outcomes: string[] = [];
    for (const entry of await readdir(this.ctx.layout.volumesPath)) {
      const match = JOURNAL_RE.exec(entry);
      if (!match?.[1]) continue;
      const journalPath = join(this.ctx.layout.volumesPath, entry);
      try {
        outcomes.push(await this.recoverJournal(journalPath));
      } catch (error) {
        outcomes.push(`${match[1]}: ${this.#needsAttention(match[1], journalPath, error)}`);
      }
    }
    return outcomes;
  }

  /** Removes the backup of a restore that did not start; a failure is logged, not thrown. */
  async #dropBackup(backup: SnapshotName, why: unknown): Promise<void> {
    try {
      await this.ctx.btrfs.deleteSubvolume(this.ctx.layout.snapshot(backup));
    } catch (error) {
      this.ctx.logger.error('could not remove the backup of a restore that did not start', {
        backup,
        why,
        error,
      });
    }
  }

  /** Leaves the volume alone, says so in the log and to its callers; answers the reason. */
  #needsAttention(volume: string, journalPath: string, error: unknown): string {
    const why = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0];
    const reason = `an interrupted restore could not be finished (${why}). The journal ${journalPath} stays; in ${this.ctx.layout.volumesPath}, ${volume} or .restore-old-${volume}-<id> holds the previous data and .restore-${volume}-<id> the restored copy, if they exist`;
    this.ctx.logger.error('volume needs attention: an interrupted restore could not be finished', {
      event: 'volume.attention',
      volume,
      reason,
      journal: journalPath,
      error,
    });
    this.ctx.attention.mark(volume, reason);
    return `needs attention: ${reason}`;
  }

  /**
   * Deletes the replaced copy. Nested subvolumes in it were refused before the restore began;
   * any found now appeared meanwhile (a forced restore of a live volume): said in the log.
   */
  async #deleteReplaced(old: string, target: VolumeName | string): Promise<void> {
    const nested = await this.ctx.btrfs.deleteSubvolume(old, { recursive: true });
    if (nested.length > 0) {
      this.ctx.logger.warn('deleted nested subvolumes of the replaced copy', {
        volume: target,
        nested: nested.map((path) => relative(old, path)),
      });
    }
  }

  /** Brings one interrupted restore to a consistent end; answers what it did. */
  async recoverJournal(journalPath: string): Promise<string> {
    const { layout, btrfs, logger } = this.ctx;
    const journal = parseJournal(await readJsonOrUndefined(journalPath), basename(journalPath));
    if (journal === undefined) return `${basename(journalPath)}: already gone`;
    const { target, id } = journal;
    const targetPath = layout.volume(target);
    const staging = layout.restoreStaging(target, id);
    const old = layout.restoreOld(target, id);
    const [hasTarget, hasStaging, hasOld] = await Promise.all([
      pathExists(targetPath),
      pathExists(staging),
      pathExists(old),
    ]);
    let outcome: string;
    // The staging copy never served anyone: nothing nested can be in it but by hand.
    if (hasStaging && !hasTarget && hasOld) {
      await rename(old, targetPath);
      await btrfs.deleteSubvolume(staging, { recursive: true });
      outcome = 'rolled back: the previous data is back in place';
    } else if (hasStaging) {
      // Killed before the old volume was moved aside (or the target never existed): the
      // target still holds what it held before; the staging copy is dropped.
      await btrfs.deleteSubvolume(staging, { recursive: true });
      outcome = 'rolled back: the restored copy was dropped before it replaced anything';
    } else if (hasOld && hasTarget) {
      await this.#deleteReplaced(old, target);
      outcome = 'finished: the restored data was already in place';
    } else if (hasOld) {
      await rename(old, targetPath);
      outcome = 'rolled back: the previous data is back in place';
    } else {
      outcome = 'nothing to do: the volume was consistent';
    }
    await syncDirectory(layout.volumesPath);
    await removeDurably(journalPath);
    this.volumes.changed(target);
    this.snapshots.invalidate();
    logger.warn('interrupted restore recovered', {
      volume: target,
      snapshot: journal.snapshot,
      backup: journal.backup,
      outcome,
    });
    return `${target}: ${outcome}`;
  }

  async #step(step: RestoreStep): Promise<void> {
    await this.ctx.afterRestoreStep?.(step);
  }
}

/** A journal is input read back from disk: only a well-formed one may name paths to act on. */
function parseJournal(
  data: unknown,
  file: string,
): { target: VolumeName; id: string; snapshot: string; backup: string | null } | undefined {
  if (data === undefined) return undefined;
  const j = data as Partial<Journal> | null;
  if (
    typeof j !== 'object' ||
    j === null ||
    j.version !== 1 ||
    !VolumeName.is(j.target) ||
    typeof j.id !== 'string' ||
    !ID_RE.test(j.id) ||
    file !== `.buttervolume-restore-${j.target}.json`
  ) {
    throw new PluginError(
      'DAEMON_START',
      `restore journal ${file} is not one buttervolume wrote; inspect it and the .restore-* folders in the volumes folder by hand, then remove it`,
    );
  }
  return {
    target: j.target,
    id: j.id,
    snapshot: String(j.snapshot),
    backup: typeof j.backup === 'string' ? j.backup : null,
  };
}
