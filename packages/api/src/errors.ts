/** A request body the daemon refuses: malformed JSON, a missing field, a bad name or value. */
export class InvalidRequestError extends Error {
  readonly code = 'INVALID_REQUEST';
  constructor(
    message: string,
    /** The offending field paths (e.g. `Name`, `Hosts.1`); empty when the whole body is wrong. */
    readonly fields: readonly string[] = [],
  ) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Nothing listens on the daemon's socket (or we may not talk to it). */
export class DaemonUnavailableError extends Error {
  readonly code = 'DAEMON_UNAVAILABLE';
  constructor(
    readonly socketPath: string,
    /** The system error code: ENOENT, ECONNREFUSED, EACCES, … */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(describeUnavailable(socketPath, reason), options);
    this.name = 'DaemonUnavailableError';
  }
}

function describeUnavailable(socketPath: string, reason: string): string {
  const what =
    reason === 'EACCES' || reason === 'EPERM'
      ? `permission denied on the buttervolume socket ${socketPath} (run as root)`
      : `cannot reach the buttervolume daemon on ${socketPath} (${reason})`;
  return (
    `${what}. Start it with \`buttervolume run\` or \`systemctl start buttervolume\`, ` +
    'or point BUTTERVOLUME_SOCKET (or --socket) at the socket it listens on.'
  );
}

/** The daemon answered with a non-empty `Err`. */
export class DaemonError extends Error {
  readonly code = 'DAEMON_ERROR';
  constructor(
    /** The endpoint path that answered, e.g. `/VolumeDriver.Snapshot`. */
    readonly endpoint: string,
    message: string,
    /** The whole JSON answer, for callers that want the extra fields. */
    readonly response?: unknown,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

/** The daemon's answer is not the JSON the protocol promises (wrong daemon, crash mid-answer). */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL_ERROR';
  constructor(
    readonly endpoint: string,
    message: string,
    readonly statusCode?: number,
    readonly body?: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** A call that did not finish within its timeout. */
export class DaemonTimeoutError extends Error {
  readonly code = 'DAEMON_TIMEOUT';
  constructor(
    readonly endpoint: string,
    readonly timeoutMs: number,
  ) {
    super(
      `the buttervolume daemon did not answer ${endpoint} within ${Math.round(timeoutMs / 1000)} s; ` +
        'it may still be working: check `buttervolume snapshots` or its log',
    );
    this.name = 'DaemonTimeoutError';
  }
}
