// What the daemon refuses, as typed errors with a stable `code`. The HTTP layer turns every
// one of them into {"Err": message} in one place (app.ts); services never see HTTP.

// Requests the daemon refuses (the caller can fix them) and faults on the server's side (a
// setting, the disk) carry different codes, so logs and clients can tell them apart.
export type PluginErrorCode =
  // The request: fix it and ask again.
  | 'INVALID_REQUEST'
  | 'NO_SUCH_VOLUME'
  | 'NO_SUCH_SNAPSHOT'
  | 'VOLUME_EXISTS'
  | 'VOLUME_IN_USE'
  | 'VOLUME_BUSY'
  | 'NESTED_SUBVOLUMES'
  | 'NOT_OWNER'
  // The server: its setup or its disk.
  | 'NOT_WIRED'
  | 'DAEMON_START'
  | 'NO_FREE_NAME'
  | 'PURGE_INCOMPLETE'
  // A send reached its host; the purge there that was asked for after it did not finish.
  | 'HOST_PURGE_FAILED'
  | 'VOLUME_NEEDS_ATTENTION'
  | 'MOUNT_STATE'
  | 'RESTORE_NOT_STARTED'
  // Group snapshots: a hook or a pause failed; Docker is needed but does not answer.
  | 'GROUP_SNAPSHOT_FAILED'
  | 'DOCKER_UNAVAILABLE'
  // Another node: replicated volumes.
  | 'PEER_UNREACHABLE'
  | 'PEER_FAILED'
  | 'OWNER_UNREACHABLE';

export class PluginError extends Error {
  override name = 'PluginError';
  constructor(
    readonly code: PluginErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** 3.x's exact wording, which scripts match on: "<name>: no such volume". */
export class NoSuchVolumeError extends PluginError {
  override name = 'NoSuchVolumeError';
  constructor(readonly volume: string) {
    super('NO_SUCH_VOLUME', `${volume}: no such volume`);
  }
}

/** 3.x answered a bare "No such snapshot"; we keep it first and add the name. */
export class NoSuchSnapshotError extends PluginError {
  override name = 'NoSuchSnapshotError';
  constructor(
    readonly snapshot: string,
    detail = '',
  ) {
    super('NO_SUCH_SNAPSHOT', `No such snapshot: ${snapshot}${detail ? ` (${detail})` : ''}`);
  }
}

export class VolumeExistsError extends PluginError {
  override name = 'VolumeExistsError';
  constructor(readonly volume: string) {
    super(
      'VOLUME_EXISTS',
      `${volume}: volume already exists; choose another target, or restore onto it with "buttervolume restore"`,
    );
  }
}

export class VolumeInUseError extends PluginError {
  override name = 'VolumeInUseError';
  constructor(
    readonly volume: string,
    readonly mountIds: readonly string[],
    /** Mounts the kernel shows, in any mount namespace (a process of each, and where). */
    readonly mounts: ReadonlyArray<{ pid: number; mountPoint: string }> = [],
  ) {
    const users = [
      ...(mountIds.length > 0
        ? [`by ${mountIds.length} container(s) (${mountIds.join(', ')})`]
        : []),
      ...(mounts.length > 0
        ? [
            `in ${mounts.length} place(s) (${mounts.map((m) => `${m.mountPoint} as seen by pid ${m.pid}`).join(', ')})`,
          ]
        : []),
    ];
    super(
      'VOLUME_IN_USE',
      `${volume} is mounted ${users.join(' and ')}; stop them first or pass Force`,
    );
  }
}

/** A job that writes or replaces the volume runs: Docker's calls answer this rather than wait. */
export class VolumeBusyError extends PluginError {
  override name = 'VolumeBusyError';
  constructor(
    readonly volume: string,
    readonly job: string,
  ) {
    super(
      'VOLUME_BUSY',
      `${volume} is busy: a ${job} is running on it; try again once it ends (buttervolume's log says when)`,
    );
  }
}

/**
 * A restore would replace a volume holding nested subvolumes, which no snapshot contains: they
 * would be lost. Refused before anything changes.
 */
export class NestedSubvolumesInVolumeError extends PluginError {
  override name = 'NestedSubvolumesInVolumeError';
  constructor(
    readonly volume: string,
    readonly nested: readonly string[],
  ) {
    super(
      'NESTED_SUBVOLUMES',
      `${volume} holds nested subvolume(s) (${nested.join(', ')}), which no snapshot contains: restoring over it would lose them. Restore into a new volume instead (buttervolume restore <snapshot> <new volume>), or delete them first (stop the containers using ${volume}, then btrfs subvolume delete each one, deepest first)`,
    );
  }
}

/** A volume the daemon left alone at start (an interrupted restore it could not finish). */
export class VolumeNeedsAttentionError extends PluginError {
  override name = 'VolumeNeedsAttentionError';
  constructor(
    readonly volume: string,
    readonly reason: string,
  ) {
    super(
      'VOLUME_NEEDS_ATTENTION',
      `${volume} needs attention: ${reason}; once fixed, restart buttervolume (it finishes the restore at start)`,
    );
  }
}

export class DaemonStartError extends PluginError {
  override name = 'DaemonStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('DAEMON_START', message, options);
  }
}

/** Docker's mount IDs could not be saved (RUNPATH full or read-only): the Mount or Unmount is undone. */
export class MountStateError extends PluginError {
  override name = 'MountStateError';
  constructor(
    readonly action: 'record' | 'forget',
    readonly volume: string,
    readonly statePath: string,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      'MOUNT_STATE',
      `could not ${action} the mount of ${volume} in ${statePath} (${why}); free space in or fix the permissions of that folder (RUNPATH), then retry`,
      { cause },
    );
  }
}
