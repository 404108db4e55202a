import { lastLines } from './output.js';

/** Which part of a replication failed; callers and users act differently on each. */
export type ReplicationStep =
  /** Reaching the host: DNS, refused or timed-out connection, lost connection. */
  | 'connect'
  /** ssh reached the host but was not let in (key refused, host key mismatch). */
  | 'auth'
  /** The local `btrfs send`. */
  | 'send'
  /** The remote `btrfs receive` (or the remote checks around it). */
  | 'receive'
  /** rsync pulling a volume. */
  | 'sync'
  /** Writing or pruning the local send marker. */
  | 'marker'
  /** Listing or deleting the host's copies of a volume (retention on the host). */
  | 'purge';

/** Stable codes: the plugin maps these, never messages. */
export type ReplicationErrorCode =
  | 'SSH_CONNECT_FAILED'
  | 'SSH_AUTH_FAILED'
  | 'TRANSFER_INTERRUPTED'
  | 'TRANSFER_TIMEOUT'
  | 'SEND_FAILED'
  | 'RECEIVE_FAILED'
  | 'REMOTE_NO_SPACE'
  | 'SYNC_FAILED'
  | 'MARKER_FAILED'
  | 'REMOTE_PURGE_FAILED'
  | 'NO_SUCH_SNAPSHOT'
  | 'NO_SUCH_VOLUME'
  | 'INVALID_SETTING'
  | 'FORWARD_FAILED';

export interface ReplicationErrorDetails {
  host?: string | undefined;
  step?: ReplicationStep | undefined;
  /** The failing command as an argument array (never a shell string). */
  command?: readonly string[] | undefined;
  exitCode?: number | undefined;
  stderr?: string | undefined;
  cause?: unknown;
}

export class ReplicationError extends Error {
  readonly code: ReplicationErrorCode;
  readonly host: string | undefined;
  readonly step: ReplicationStep | undefined;
  readonly command: readonly string[] | undefined;
  readonly exitCode: number | undefined;
  readonly stderr: string;

  constructor(code: ReplicationErrorCode, message: string, details: ReplicationErrorDetails = {}) {
    const stderr = details.stderr?.trim() ?? '';
    // The stderr tells the user what went wrong on the far side: its last lines go in the
    // message, which must stay short (Docker shows it); the whole kept tail is in `stderr`.
    super(stderr ? `${message}\n${indent(lastLines(stderr))}` : message, { cause: details.cause });
    this.name = 'ReplicationError';
    this.code = code;
    this.host = details.host;
    this.step = details.step;
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.stderr = stderr;
  }
}

/** Several hosts failed in one sync; each failure is kept whole. */
export class SyncFailedError extends ReplicationError {
  constructor(
    readonly volume: string,
    readonly failures: readonly ReplicationError[],
    /** Hosts that did sync, before or after the failing ones. */
    readonly succeeded: readonly { host: string; durationMs: number }[] = [],
  ) {
    super(
      'SYNC_FAILED',
      `sync of volume ${volume} failed for ${failures.length} host(s):\n${failures
        .map((f) => indent(f.message))
        .join('\n')}`,
      { host: failures.map((f) => f.host).join(', '), step: 'sync' },
    );
    this.name = 'SyncFailedError';
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

// Failing to establish the connection at all. A connection that drops later ("Connection
// closed by", "reset", "Broken pipe") is an interrupted transfer instead. Literal alternatives
// only: the text comes from a peer, and a pattern like `Load key .*: ` backtracks
// quadratically on a megabyte of repeated "Load key " (it blocked the daemon for 96 s).
const CONNECT_RE =
  /Could not resolve hostname|Connection refused|Connection timed out|timed out during banner|No route to host|Network is unreachable|kex_exchange_identification/i;
const AUTH_RE =
  /Permission denied|Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No matching host key|Too many authentication failures|Load key /i;

/**
 * What an ssh exit says about the step. ssh exits 255 for its own errors and otherwise with
 * the remote command's status, so 255 plus stderr is all we need.
 */
export function classifySshExit(
  exitCode: number | undefined,
  stderr: string,
): 'connect' | 'auth' | 'interrupted' | 'remote' {
  if (exitCode !== 255) return 'remote';
  if (AUTH_RE.test(stderr)) return 'auth';
  if (CONNECT_RE.test(stderr)) return 'connect';
  return 'interrupted';
}

/** Builds the error for an ssh (or rsync-over-ssh) exit that failed at the transport level. */
export function sshTransportError(
  host: string,
  kind: 'connect' | 'auth' | 'interrupted',
  details: Omit<ReplicationErrorDetails, 'host' | 'step'>,
): ReplicationError {
  switch (kind) {
    case 'auth':
      return new ReplicationError(
        'SSH_AUTH_FAILED',
        `ssh to ${host} was refused (step: auth): check the identity file, that its public key is in root's authorized_keys on ${host}, and the known_hosts entry`,
        { ...details, host, step: 'auth' },
      );
    case 'connect':
      return new ReplicationError(
        'SSH_CONNECT_FAILED',
        `cannot connect to ${host} over ssh (step: connect): check that the host is up, sshd runs and the ssh port is right`,
        { ...details, host, step: 'connect' },
      );
    case 'interrupted':
      return new ReplicationError(
        'TRANSFER_INTERRUPTED',
        `the ssh connection to ${host} was lost (step: connect); nothing was kept, retry`,
        { ...details, host, step: 'connect' },
      );
  }
}
