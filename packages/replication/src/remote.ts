import { pipeline } from 'node:stream/promises';
import type { SendProcess } from '@buttervolume/btrfs';
import { execa } from 'execa';
import { classifySshExit, ReplicationError, sshTransportError } from './errors.js';
import { Meter, type MeterOptions } from './progress.js';
import { type SshSettings, sshArgv } from './ssh.js';

// btrfs-progs and ssh print English we match on; pin it locally (remotely: `env LC_ALL=C`).
const ENV = { LC_ALL: 'C', LANG: 'C' } as const;

export interface RemoteResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs one short command on `host`; ssh-level failures (exit 255) become typed errors. */
export async function runRemote(
  ssh: SshSettings,
  host: string,
  remote: readonly string[],
  step: 'receive',
): Promise<RemoteResult> {
  const argv = sshArgv(ssh, host, remote);
  const result = await execa(ssh.sshPath, argv, { reject: false, stdin: 'ignore', env: ENV });
  const stderr = String(result.stderr);
  const command = [ssh.sshPath, ...argv];
  const kind = classifySshExit(result.exitCode, stderr);
  if (kind !== 'remote') {
    throw sshTransportError(host, kind, { command, exitCode: result.exitCode, stderr });
  }
  if (result.exitCode === undefined) {
    throw new ReplicationError(
      'TRANSFER_INTERRUPTED',
      `ssh to ${host} was killed (step: ${step})`,
      {
        host,
        step,
        command,
        stderr,
      },
    );
  }
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr };
}

/** What the host has at a snapshot's path. */
export type RemoteState = 'absent' | 'complete' | 'partial';

/**
 * `btrfs receive` creates the subvolume writable and makes it read-only only once the whole
 * stream is in, so a writable subvolume at the target path is a half-received one.
 */
export async function remoteState(
  ssh: SshSettings,
  host: string,
  path: string,
  btrfsPath: string,
): Promise<RemoteState> {
  const remote = [btrfsPath, 'subvolume', 'show', '--', path];
  const result = await runRemote(ssh, host, remote, 'receive');
  if (result.exitCode === 0) {
    const flags = /^\s*Flags:\s*(.*)$/m.exec(result.stdout)?.[1] ?? '';
    return flags.includes('readonly') ? 'complete' : 'partial';
  }
  // btrfs exits 1 for a missing path; anything else (127: no btrfs there) is a real problem.
  if (
    result.exitCode === 1 &&
    /No such file or directory|cannot find real path/i.test(result.stderr)
  ) {
    return 'absent';
  }
  throw new ReplicationError(
    'RECEIVE_FAILED',
    `cannot check ${path} on ${host} (step: receive): is btrfs-progs installed and the snapshots path on btrfs?`,
    { host, step: 'receive', command: remote, exitCode: result.exitCode, stderr: result.stderr },
  );
}

/** Deletes a (half-)received subvolume on `host`; a missing one is fine. */
export async function remoteDelete(
  ssh: SshSettings,
  host: string,
  path: string,
  btrfsPath: string,
): Promise<void> {
  const remote = [btrfsPath, 'subvolume', 'delete', '--', path];
  const result = await runRemote(ssh, host, remote, 'receive');
  if (result.exitCode === 0) return;
  if (/No such file or directory|cannot find real path/i.test(result.stderr)) return;
  throw new ReplicationError(
    'RECEIVE_FAILED',
    `cannot delete the partial subvolume ${path} on ${host} (step: receive)`,
    { host, step: 'receive', command: remote, exitCode: result.exitCode, stderr: result.stderr },
  );
}

export interface TransferRequest {
  ssh: SshSettings;
  host: string;
  /** Starts the local `btrfs send`. */
  start: () => SendProcess;
  /** Where the host receives (its SNAPSHOTS_PATH). */
  remoteDir: string;
  btrfsPath: string;
  compress?: boolean | undefined;
  meter?: MeterOptions | undefined;
  signal?: AbortSignal | undefined;
}

export type TransferOutcome =
  | { ok: true; bytes: number; durationMs: number }
  | { ok: false; error: ReplicationError; parentMissing: boolean; bytes: number };

/**
 * `btrfs send | ssh host btrfs receive dir`, wired in-process: send's stdout flows through a
 * Meter (count, progress, rate limit) into ssh's stdin. No local shell anywhere.
 */
export async function transfer(request: TransferRequest): Promise<TransferOutcome> {
  const { ssh, host } = request;
  const remote = [request.btrfsPath, 'receive', '--', request.remoteDir];
  const argv = sshArgv(ssh, host, remote, { compress: request.compress ?? false });
  const command = [ssh.sshPath, ...argv];
  const meter = new Meter(request.meter);
  const receiver = execa(ssh.sshPath, argv, {
    reject: false,
    stdin: 'pipe',
    env: ENV,
    ...(request.signal ? { cancelSignal: request.signal } : {}),
  });
  const sender = request.start();

  // Whoever fails first is the cause; the other side's failure is only its consequence.
  let first: 'send' | 'ssh' | undefined;
  const sent = sender.done.then(
    () => undefined,
    (error: unknown) => {
      first ??= 'send';
      return error;
    },
  );
  const received = receiver.then((result) => {
    if (result.exitCode !== 0) {
      first ??= 'ssh';
      sender.abort();
    }
    return result;
  });
  // EPIPE on ssh's stdin just means ssh ended early; ssh's own exit says why.
  const piped = pipeline(sender.stream, meter, receiver.stdin).then(
    () => undefined,
    (error: unknown) => {
      sender.abort();
      return error;
    },
  );
  const [sendError, result] = await Promise.all([sent, received, piped]);
  const bytes = meter.bytes;
  // btrfs receive's "At subvol <name>" progress line is not part of any error.
  const stderr = String(result.stderr)
    .split('\n')
    .filter((line) => !/^At (subvol|snapshot) /.test(line))
    .join('\n');
  if (sendError === undefined && result.exitCode === 0) {
    return { ok: true, bytes, durationMs: meter.elapsedMs };
  }
  const fail = (error: ReplicationError, parentMissing = false): TransferOutcome => ({
    ok: false,
    error,
    parentMissing,
    bytes,
  });
  const details = { host, command, exitCode: result.exitCode, stderr };
  if (result.isCanceled) {
    return fail(
      new ReplicationError('TRANSFER_INTERRUPTED', `send to ${host} was cancelled`, {
        ...details,
        step: 'receive',
      }),
    );
  }
  if (first === 'send' && sendError !== undefined) {
    const senderStderr = (sendError as { stderr?: unknown }).stderr;
    return fail(
      new ReplicationError(
        'SEND_FAILED',
        `btrfs send failed while sending to ${host} (step: send)`,
        {
          host,
          step: 'send',
          command: (sendError as { command?: readonly string[] }).command,
          exitCode: (sendError as { exitCode?: number }).exitCode,
          stderr: typeof senderStderr === 'string' ? senderStderr : String(sendError),
          cause: sendError,
        },
      ),
    );
  }
  const kind = classifySshExit(result.exitCode, stderr);
  if (kind !== 'remote') return fail(sshTransportError(host, kind, details));
  if (result.exitCode === undefined) {
    // ssh died from a signal: the link is gone as far as we are concerned.
    return fail(sshTransportError(host, 'interrupted', details));
  }
  if (/cannot find parent subvolume|parent subvol.*not found/i.test(stderr)) {
    return fail(
      new ReplicationError('RECEIVE_FAILED', `${host} lacks the parent snapshot (step: receive)`, {
        ...details,
        step: 'receive',
      }),
      true,
    );
  }
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
    return fail(
      new ReplicationError(
        'REMOTE_NO_SPACE',
        `${host} ran out of space receiving into ${request.remoteDir} (step: receive); free space there and retry`,
        { ...details, step: 'receive' },
      ),
    );
  }
  return fail(
    new ReplicationError('RECEIVE_FAILED', `btrfs receive failed on ${host} (step: receive)`, {
      ...details,
      step: 'receive',
    }),
  );
}
