export type StorageErrorCode =
  | 'INVALID_PATH'
  | 'INVALID_SIZE'
  | 'NOT_A_DIRECTORY'
  | 'NOT_EMPTY'
  | 'MOUNT_POINT_BUSY'
  | 'IMAGE_EXISTS'
  | 'IMAGE_INSIDE_MOUNT_POINT'
  | 'PATHS_NOT_UNDER_MOUNT_POINT'
  | 'SPLIT_FILESYSTEMS'
  | 'UNIT_EXISTS'
  | 'COMMAND_FAILED';

export interface StorageErrorDetails {
  path?: string;
  command?: readonly string[];
  exitCode?: number;
  stderr?: string;
}

/** Every failure of this package: a stable `code` and a message that says what to do. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly path: string | undefined;
  readonly command: readonly string[] | undefined;
  readonly exitCode: number | undefined;
  readonly stderr: string | undefined;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    details: StorageErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.path = details.path;
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
  }
}
