import type { Btrfs } from '@buttervolume/btrfs';
import type { Logger, OperationObserver } from '../log.js';
import type { Attention } from './attention.js';
import type { Layout } from './layout.js';
import type { VolumeLocks } from './locks.js';
import type { MountTable } from './mounts.js';
import type { NestedSubvolumes } from './nested.js';

/** The steps of a restore, in order; a test hook may stop the daemon dead after any of them. */
export const RESTORE_STEPS = [
  'backup',
  'journal',
  'staging',
  'aside',
  'in-place',
  'old-deleted',
] as const;
export type RestoreStep = (typeof RESTORE_STEPS)[number];

/**
 * The part of @buttervolume/btrfs' `Btrfs` the daemon and its services use (`send` for the
 * replicator it is handed to): they depend on this subset, not on the class.
 */
export type ServiceBtrfs = Pick<
  Btrfs,
  | 'compression'
  | 'createSubvolume'
  | 'deleteSubvolume'
  | 'deleteSubvolumes'
  | 'enableQuota'
  | 'isNocow'
  | 'isReadOnly'
  | 'isSubvolume'
  | 'subvolumeRoot'
  | 'listSubvolumes'
  | 'fileAttributes'
  | 'quota'
  | 'send'
  | 'setCompression'
  | 'setQuotaLimit'
  | 'snapshot'
  | 'snapshotTimes'
  | 'subvolumesBelow'
  | 'syncFilesystem'
  | 'unchangedSince'
>;

/** What every service shares: the disk, the clock, the locks and the log. */
export interface ServiceContext {
  btrfs: ServiceBtrfs;
  layout: Layout;
  locks: VolumeLocks;
  mounts: MountTable;
  /** Volumes left alone at start (an interrupted restore that could not be finished). */
  attention: Attention;
  /** Subvolumes nested in volumes, which snapshots do not contain. */
  nested: NestedSubvolumes;
  logger: Logger;
  /** strftime format of snapshot timestamps (DTFORMAT). */
  dtFormat: string;
  now: () => Date;
  /** Called after each restore step; crash tests kill the process here. */
  afterRestoreStep?: ((step: RestoreStep) => Promise<void> | void) | undefined;
  /** Told of every timed operation (snapshot, send, purge, …): the metrics. */
  observe?: OperationObserver | undefined;
}
