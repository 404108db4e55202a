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
  generation: number;
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
