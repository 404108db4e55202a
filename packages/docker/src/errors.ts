/** Stable codes: the daemon's HTTP layer and the CLI switch on these, never on messages. */
export type DockerErrorCode =
  /** No socket, or nothing answers on it: Docker-aware features are off, the rest works. */
  | 'DOCKER_UNAVAILABLE'
  /** The container (or exec) does not exist (HTTP 404). */
  | 'DOCKER_NOT_FOUND'
  /** The container is not in a state for that (not running, already paused: HTTP 409). */
  | 'DOCKER_CONFLICT'
  /** A call did not finish in time. */
  | 'DOCKER_TIMEOUT'
  /** Any other answer from the Engine API. */
  | 'DOCKER_API_ERROR';

export interface DockerErrorDetails {
  /** `METHOD /path` of the failed call. */
  request?: string | undefined;
  statusCode?: number | undefined;
  cause?: unknown;
}

export class DockerError extends Error {
  override name = 'DockerError';
  readonly request: string | undefined;
  readonly statusCode: number | undefined;
  constructor(
    readonly code: DockerErrorCode,
    message: string,
    details: DockerErrorDetails = {},
  ) {
    super(message, { cause: details.cause });
    this.request = details.request;
    this.statusCode = details.statusCode;
  }
}

export function codeForStatus(status: number): DockerErrorCode {
  if (status === 404) return 'DOCKER_NOT_FOUND';
  if (status === 409) return 'DOCKER_CONFLICT';
  return 'DOCKER_API_ERROR';
}
