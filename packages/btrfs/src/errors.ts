/** Stable error codes: callers (HTTP layer, CLI) switch on these, never on messages. */
export type BtrfsErrorCode =
  | 'BTRFS_NOT_A_SUBVOLUME'
  | 'BTRFS_NOT_BTRFS'
  | 'BTRFS_ALREADY_EXISTS'
  | 'BTRFS_NO_SUCH_PATH'
  | 'BTRFS_NO_SPACE'
  | 'BTRFS_PERMISSION'
  | 'BTRFS_QUOTA_DISABLED'
  | 'BTRFS_ABORTED'
  | 'BTRFS_NESTED_SUBVOLUMES'
  | 'BTRFS_COMMAND_FAILED';

/** What a failed btrfs-progs (or chattr/lsattr) run left behind, for diagnosis. */
export interface CommandFailure {
  /** The full command line, binary first, exactly as spawned (no shell). */
  command: readonly string[];
  /** Exit code, undefined when the process was killed or could not start. */
  exitCode: number | undefined;
  stderr: string;
}

export interface BtrfsErrorDetails {
  /** The path the operation was about, when there is one. */
  path?: string | undefined;
  /** Set when the error comes from a command that ran and failed. */
  failure?: CommandFailure | undefined;
  cause?: unknown;
}

/** Base of every error this package throws. */
export class BtrfsError extends Error {
  override name = 'BtrfsError';
  readonly code: BtrfsErrorCode;
  readonly path: string | undefined;
  /** Command line of the failed process, when a process failed. */
  readonly command: readonly string[] | undefined;
  readonly exitCode: number | undefined;
  /** stderr of the failed process ('' when no process ran). */
  readonly stderr: string;

  constructor(code: BtrfsErrorCode, message: string, details: BtrfsErrorDetails = {}) {
    super(withFailure(message, details.failure), { cause: details.cause });
    this.code = code;
    this.path = details.path;
    this.command = details.failure?.command;
    this.exitCode = details.failure?.exitCode;
    this.stderr = details.failure?.stderr ?? '';
  }
}

function withFailure(message: string, failure: CommandFailure | undefined): string {
  if (!failure) return message;
  const stderr = failure.stderr.trim();
  const status = failure.exitCode === undefined ? 'was killed' : `exited ${failure.exitCode}`;
  return `${message}\n  command: ${failure.command.join(' ')} (${status})${stderr ? `\n  stderr: ${stderr}` : ''}`;
}

export class NotASubvolumeError extends BtrfsError {
  override name = 'NotASubvolumeError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_NOT_A_SUBVOLUME',
      `${path} is not a btrfs subvolume: check the path, or create it with createSubvolume()`,
      { ...details, path },
    );
  }
}

export class NotBtrfsError extends BtrfsError {
  override name = 'NotBtrfsError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_NOT_BTRFS',
      `${path} is not on a btrfs filesystem: point the volumes and snapshots paths at a mounted btrfs`,
      { ...details, path },
    );
  }
}

export class AlreadyExistsError extends BtrfsError {
  override name = 'AlreadyExistsError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_ALREADY_EXISTS',
      `${path} already exists: choose another name or delete it first`,
      { ...details, path },
    );
  }
}

export class NoSuchPathError extends BtrfsError {
  override name = 'NoSuchPathError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super('BTRFS_NO_SUCH_PATH', `${path} does not exist: check the path and its parent folder`, {
      ...details,
      path,
    });
  }
}

export class NoSpaceError extends BtrfsError {
  override name = 'NoSpaceError';
  constructor(path: string | undefined, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_NO_SPACE',
      `no space left${path ? ` on the filesystem of ${path}` : ''} (disk full or quota exceeded): free space, delete old snapshots, or raise the quota`,
      { ...details, path },
    );
  }
}

export class PermissionError extends BtrfsError {
  override name = 'PermissionError';
  constructor(path: string | undefined, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_PERMISSION',
      `permission denied${path ? ` on ${path}` : ''}: btrfs operations need root (or CAP_SYS_ADMIN), and read-only snapshots cannot be written`,
      { ...details, path },
    );
  }
}

export class QuotaDisabledError extends BtrfsError {
  override name = 'QuotaDisabledError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_QUOTA_DISABLED',
      `quotas are not enabled on the filesystem of ${path}: call enableQuota() first`,
      { ...details, path },
    );
  }
}

/**
 * A subvolume could not be deleted because subvolumes live inside it (Docker-in-Docker with the
 * btrfs storage driver makes them): deleteSubvolume(path, { recursive: true }) removes them too.
 */
export class NestedSubvolumesError extends BtrfsError {
  override name = 'NestedSubvolumesError';
  constructor(path: string, details: Omit<BtrfsErrorDetails, 'path'> = {}) {
    super(
      'BTRFS_NESTED_SUBVOLUMES',
      `${path} still contains subvolumes: delete those first (btrfs subvolume list -o ${path}), or delete recursively`,
      { ...details, path },
    );
  }
}

/** A send or receive stopped through abort(). */
export class AbortedError extends BtrfsError {
  override name = 'AbortedError';
  constructor(path: string, failure: CommandFailure) {
    super('BTRFS_ABORTED', `the transfer of ${path} was aborted`, { path, failure });
  }
}

/** A command failed for a reason not covered by a more specific class. */
export class BtrfsCommandError extends BtrfsError {
  override name = 'BtrfsCommandError';
  declare readonly command: readonly string[];
  declare readonly exitCode: number | undefined;
  constructor(message: string, failure: CommandFailure, details: BtrfsErrorDetails = {}) {
    super('BTRFS_COMMAND_FAILED', message, { ...details, failure });
  }
}
