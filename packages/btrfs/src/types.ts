import type { Readable, Writable } from 'node:stream';

/** Where the binaries live; defaults are looked up on PATH. */
export interface BtrfsOptions {
  /** Path of the `btrfs` binary (default `btrfs`). */
  btrfsPath?: string;
  /** Path of the `chattr` binary (default `chattr`). */
  chattrPath?: string;
  /** Path of the `lsattr` binary (default `lsattr`). */
  lsattrPath?: string;
}

/** btrfs compression algorithms a volume can be given (its `compression` property). */
export type Compression = 'zstd' | 'lzo' | 'zlib';

export interface SetReadOnlyOptions {
  /**
   * Allow making a received snapshot writable (`btrfs property set -f`). That drops its received
   * UUID, so it can no longer be the parent of an incremental receive.
   */
  force?: boolean;
}

export interface CreateSubvolumeOptions {
  /** Disable copy-on-write (`chattr +C`) on the new, still empty subvolume. */
  nocow?: boolean;
}

export interface DeleteOptions {
  /** Delete the subvolumes inside it too, deepest first (default: refuse, NestedSubvolumesError). */
  recursive?: boolean;
}

/** What `deleteSubvolumes` did with each path, paths as given and in their order. */
export interface DeleteSubvolumesResult {
  deleted: string[];
  /** Not deleted (still there, or never a subvolume), each with its own error. */
  failed: { path: string; error: Error }[];
}

export interface SnapshotOptions {
  /** A read-only snapshot (`btrfs subvolume snapshot -r`). */
  readonly: boolean;
}

/** What `btrfs subvolume show` says about a subvolume. */
export interface SubvolumeInfo {
  path: string;
  uuid: string;
  /** UUID of the subvolume this one is a snapshot of, if any. */
  parentUuid: string | undefined;
  /** UUID of the subvolume this one was received from (`btrfs receive`), if any. */
  receivedUuid: string | undefined;
  readonly: boolean;
  /** Transaction that last changed the subvolume ("Generation"), as of the last commit. */
  generation: number;
  /** Transaction that created it ("Gen at creation"): a snapshot's content is the source's then. */
  generationAtCreation: number;
  creationTime: Date | undefined;
  /** Subvolume id (qgroup 0/<id>). */
  id: number;
}

export interface QuotaInfo {
  /** Bytes referenced by the subvolume. */
  referenced: number;
  /** Bytes exclusive to the subvolume. */
  exclusive: number;
  /** The referenced-bytes limit, if one is set. */
  limit: number | undefined;
}

export interface SendOptions {
  /** Send incrementally against this (read-only) parent snapshot (`btrfs send -p`). */
  parent?: string;
  /**
   * Protocol 2 with `--compressed-data`: compressed extents cross as they are on disk. Only
   * when both ends support it (see `sendProtocolArgs`); the receiver needs btrfs-progs 5.19.
   */
  compressedData?: boolean;
}

/** A running `btrfs send`: read the stream from `stream`; `done` settles when the process ends. */
export interface SendProcess {
  stream: Readable;
  /** Resolves when btrfs send exits 0; rejects with a BtrfsCommandError otherwise. */
  done: Promise<void>;
  /** Stop the send (kills the process). */
  abort(): void;
}

/** A running `btrfs receive`: write the stream into `stream`; `done` settles when it ends. */
export interface ReceiveProcess {
  stream: Writable;
  /**
   * Resolves with the received subvolume's name (as printed by btrfs receive) and its full path
   * inside the receiving folder when it exits 0; rejects with a BtrfsError otherwise.
   */
  done: Promise<{ received: string | undefined; path: string | undefined }>;
  abort(): void;
}

/**
 * What `Btrfs.unchangedSince` found. `unchanged` is true only when btrfs proves the volume was
 * not written to since the snapshot was taken of it; every doubt answers false.
 */
export interface UnchangedCheck {
  unchanged: boolean;
  /**
   * `unchanged`; `written` (the volume's generation is past the snapshot's creation);
   * `not-its-snapshot` (the snapshot was not taken of this volume, e.g. received from a peer or
   * taken before a restore replaced the volume); `writable-snapshot` (it may differ from what
   * was taken).
   */
  reason: 'unchanged' | 'written' | 'not-its-snapshot' | 'writable-snapshot';
  /** The volume's generation after the filesystem sync. */
  volumeGeneration: number;
  /** The transaction the snapshot was created in. */
  snapshotGeneration: number;
}
