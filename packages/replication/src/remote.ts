import { randomUUID } from 'node:crypto';
import { COMPRESSED_SEND_ARGS, parseProgsVersion } from '@buttervolume/btrfs';
import { interrupted, type StageResult, startPipeline } from '@buttervolume/spawner';
import {
  classifySshExit,
  ReplicationError,
  type ReplicationErrorDetails,
  type ReplicationStep,
  sshTransportError,
} from './errors.js';
import { runBounded } from './output.js';
import { bytesWritten, ddBytes, MIN_POLL_MS, stallWatch } from './pipe.js';
import type { Progress } from './progress.js';
import { type SshSettings, sshArgv } from './ssh.js';

// btrfs-progs and ssh print English we match on; pin it locally (remotely: `env LC_ALL=C`).
const ENV = { LC_ALL: 'C', LANG: 'C' } as const;

export interface RemoteResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one short command on `host`; ssh-level failures (exit 255) become typed errors. It gets
 * the settings' command timeout, so a host that accepts the connection and then hangs cannot
 * hold the caller (a clean-up after a cancel, say) forever.
 */
export async function runRemote(
  ssh: SshSettings,
  host: string,
  remote: readonly string[],
  step: ReplicationStep,
  signal?: AbortSignal,
  io: { input?: string; maxStdout?: number } = {},
): Promise<RemoteResult> {
  const argv = sshArgv(ssh, host, remote);
  const result = await runBounded(ssh.sshPath, argv, {
    env: ENV,
    timeoutMs: ssh.commandTimeoutMs,
    signal,
    ...io,
  });
  const { stderr } = result;
  const command = [ssh.sshPath, ...argv];
  if (result.timedOut) {
    throw new ReplicationError(
      'TRANSFER_TIMEOUT',
      `${host} did not answer within ${ssh.commandTimeoutMs / 1000} s (step: ${step}); check the host and retry`,
      { host, step, command, stderr },
    );
  }
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
  return { exitCode: result.exitCode, stdout: result.stdout, stderr };
}

/** What the receiving session prints, alone on stdout, when the host already has the snapshot. */
export const ALREADY_RECEIVED = 'buttervolume:already-received';
/**
 * What it prints just before `btrfs receive` starts: from then on whatever is at the target
 * is this attempt's. Without it (no connection, refused, the check failed) the target is not
 * ours to clean up, even when it exists: it may be the host's complete copy.
 */
export const RECEIVE_STARTED = 'buttervolume:receiving';
// Exit codes of the receiving session's own steps (btrfs receive exits 1, ssh 255, sh 127).
const CHECK_FAILED = 102;
const DELETE_FAILED = 103;
/** Shell function of the remote scripts: nothing (not even a dangling link) at $t. */
const GONE = 'gone() { ! [ -e "$t" ] && ! [ -L "$t" ]; }';
/**
 * Shell function of the remote scripts: a receiving session of $t runs, other than session $s
 * ($s empty: any). A receiving session is a process whose command line holds both the word $w
 * (RECEIVE_STARTED, inside RECEIVE_SCRIPT) and the target, and its id (which its own subshells
 * carry too); one grep reads every command line.
 */
const RECEIVING =
  'receiving() { for f in $(grep -laF -- "$w" /proc/[0-9]*/cmdline 2>/dev/null); do grep -qaF -- "$t" "$f" 2>/dev/null && { [ -z "$s" ] || ! grep -qaF -- "$s" "$f" 2>/dev/null; } && return 0; done; return 1; }';

/**
 * The receiving side of a send as one remote session, so the check costs no session of its own
 * (~90 ms on a shared connection, a whole handshake without one). Fixed text only: the target
 * path, the receive folder and the btrfs binary arrive as $1 $2 $3, never inside the script.
 * `btrfs receive` creates the subvolume writable and makes it read-only once the whole stream
 * is in (a stream cut anywhere, even at a command boundary or just before its end command,
 * leaves it writable: checked with btrfs-progs 6.2), so at the target path a read-only
 * subvolume is complete (say so and leave stdin unread: ssh then ends and the local send stops
 * on EPIPE) and a writable one is what an interrupted receive left (delete it, then receive).
 * A target that vanishes between the steps is absent, not a failure. One line, `;`-joined: the
 * remote login shell only has to pass a single-quoted word on to `sh -c`.
 *
 * A receive that fails (the stream cut by a cancel, a lost link, a full disk) deletes the
 * writable subvolume it left before the session ends, unless another session (a retry, known
 * by another session id, $4) receives there by now: a clean-up from the sending side may come
 * before this session started on the host (cancelled on its first bytes) or not get through.
 *
 * The stream is counted here, by `dd` in front of `btrfs receive`, rather than on the sending
 * host: there it was one more process copying every byte between `btrfs send` and ssh, on the
 * host whose CPU the send competes for. dd's closing statistics go to stdout (fd 3 is the
 * session's stdout), so stderr stays receive's own for error messages.
 */
export const RECEIVE_SCRIPT = [
  't=$1 d=$2 b=$3 s=$4',
  GONE,
  `if ! gone; then if ro=$("$b" property get -ts -- "$t" ro </dev/null); then :; elif gone; then ro=; else exit ${CHECK_FAILED}; fi`,
  `if [ "$ro" = ro=true ]; then echo ${ALREADY_RECEIVED}; exit 0; fi`,
  `gone || "$b" subvolume delete -- "$t" </dev/null >/dev/null || gone || exit ${DELETE_FAILED}; fi`,
  `echo ${RECEIVE_STARTED}`,
  'exec 3>&1',
  'dd bs=1M 2>&3 3>&- | "$b" receive -- "$d" 3>&-',
  'r=$?',
  `w=${RECEIVE_STARTED}`,
  RECEIVING,
  // A cut stream left the target writable: remove it here, silently (stdout and stderr may be
  // gone with the connection), unless a later attempt is receiving there by now.
  `if [ $r -ne 0 ] && ! gone && ! receiving && [ "$("$b" property get -ts -- "$t" ro </dev/null 2>/dev/null)" = ro=false ]; then "$b" subvolume delete -- "$t" </dev/null >/dev/null 2>&1; fi`,
  'exit $r',
].join('; ');

/**
 * Removes what an interrupted receive left at $1 (btrfs binary $2): a writable subvolume only.
 * A read-only one is a complete copy (see RECEIVE_SCRIPT), so a clean-up that reaches the host
 * late, after another send finished there, cannot take it away; nothing there is fine too.
 * It first waits (up to 10 s) for the receiving session of that target to end: cancelled on
 * its first bytes, that session may not have created the subvolume yet, and would once the
 * clean-up had found nothing (see RECEIVING).
 */
export const CLEAN_SCRIPT = [
  't=$1 b=$2 s=',
  GONE,
  // The word is put together at run time: written whole, this session would find itself.
  `w=${RECEIVE_STARTED.slice(0, -3)}; w=\${w}${RECEIVE_STARTED.slice(-3)}`,
  RECEIVING,
  'n=0; while receiving && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done',
  'if gone; then exit 0; fi',
  `if ro=$("$b" property get -ts -- "$t" ro </dev/null); then :; elif gone; then exit 0; else exit ${CHECK_FAILED}; fi`,
  'if [ "$ro" = ro=true ]; then exit 0; fi',
  `"$b" subvolume delete -- "$t" </dev/null >/dev/null || gone || exit ${DELETE_FAILED}`,
].join('; ');

/**
 * The remote argument array running RECEIVE_SCRIPT for `target` (a path inside `dir`), as the
 * receiving session `session` (unique per attempt).
 */
export function receiveCommand(
  btrfsPath: string,
  target: string,
  dir: string,
  session: string = randomUUID(),
): string[] {
  return ['sh', '-c', RECEIVE_SCRIPT, 'sh', target, dir, btrfsPath, session];
}

/** The remote argument array running CLEAN_SCRIPT for `target`. */
export function cleanCommand(btrfsPath: string, target: string): string[] {
  return ['sh', '-c', CLEAN_SCRIPT, 'sh', target, btrfsPath];
}

/**
 * Deletes a half-received (writable) subvolume on `host`; a missing or read-only one is left
 * as it is (see CLEAN_SCRIPT).
 */
export async function remoteDeletePartial(
  ssh: SshSettings,
  host: string,
  path: string,
  btrfsPath: string,
): Promise<void> {
  const remote = cleanCommand(btrfsPath, path);
  const result = await runRemote(ssh, host, remote, 'receive');
  if (result.exitCode === 0) return;
  throw new ReplicationError(
    'RECEIVE_FAILED',
    result.exitCode === CHECK_FAILED
      ? `cannot check the partial subvolume ${path} on ${host} (step: receive)`
      : `cannot delete the partial subvolume ${path} on ${host} (step: receive)`,
    { host, step: 'receive', command: remote, exitCode: result.exitCode, stderr: result.stderr },
  );
}

export interface TransferRequest {
  ssh: SshSettings;
  host: string;
  /** The local `btrfs send`, run as a plain process whose stdout goes to ssh. */
  send: LocalSend;
  /** Where the host receives (its SNAPSHOTS_PATH). */
  remoteDir: string;
  /** The snapshot's path on the host (inside `remoteDir`), checked before receiving. */
  remoteTarget: string;
  btrfsPath: string;
  compress?: boolean | undefined;
  meter?: MeterOptions | undefined;
  signal?: AbortSignal | undefined;
}

export interface MeterOptions {
  /** Called at most every `intervalMs`, and once at the end. */
  onProgress?: ((progress: Progress) => void) | undefined;
  intervalMs?: number | undefined;
  /** Average rate limit in bytes per second; undefined for none. */
  bytesPerSec?: number | undefined;
}

export interface LocalSend {
  btrfsPath: string;
  snapshot: string;
  parent?: string | undefined;
  /** Protocol 2 with --compressed-data (both ends support it). */
  compressedData?: boolean | undefined;
}

export type TransferOutcome =
  /** `alreadyPresent`: the host had the snapshot complete; nothing was received (bytes 0). */
  | { ok: true; bytes: number; durationMs: number; alreadyPresent: boolean }
  | {
      ok: false;
      error: ReplicationError;
      parentMissing: boolean;
      bytes: number;
      /**
       * This attempt started `btrfs receive` at the target, so whatever is there now is its
       * unfinished work. Otherwise the target is left alone: it may be the host's complete copy
       * (a connection refused before anything ran) or something not ours.
       */
      receiveStarted: boolean;
      /**
       * The link failed (no byte moved for the stall timeout, or ssh lost the connection): a
       * clean-up sent now may sit in a TCP queue and reach the host after the next attempt
       * started there, so it is left to that attempt's check.
       */
      linkLost: boolean;
    };

/** What the data path reports, before it is turned into an outcome. */
interface RawTransfer {
  bytes: number;
  durationMs: number;
  cancelled: boolean;
  /** No byte moved for the stall timeout; the pipeline was stopped. */
  stalled: boolean;
  /** Set when the local `btrfs send` failed first (so the ssh side failed as a consequence). */
  sendFailure?: ReplicationErrorDetails | undefined;
  sshExitCode: number | undefined;
  sshStderr: string;
  sshStdout: string;
}

/**
 * `btrfs send | ssh host <check, then btrfs receive dir>`, no shell here (the remote one runs
 * fixed text), started by the spawner (@buttervolume/spawner) so this process never forks for
 * it. send's stdout is ssh's stdin: the send stream passes through neither this process nor,
 * without a bandwidth limit, the spawner (with one, the spawner holds it back on its way).
 * Progress comes from polling the written-byte counter of `btrfs send` (the kernel counts what
 * the send ioctl writes into the pipe); the exact total from the receiving session's dd (see
 * RECEIVE_SCRIPT).
 */
export async function transfer(request: TransferRequest): Promise<TransferOutcome> {
  const remote = receiveCommand(request.btrfsPath, request.remoteTarget, request.remoteDir);
  const argv = sshArgv(request.ssh, request.host, remote, { compress: request.compress ?? false });
  const command = [request.ssh.sshPath, ...argv];
  return interpret(await pipedTransfer(request, argv), request, command);
}

async function pipedTransfer(request: TransferRequest, argv: string[]): Promise<RawTransfer> {
  const started = performance.now();
  const { send } = request;
  // -q: nothing but the stream is written, so the counter is stream bytes only.
  const sendArgs = [
    'send',
    '-q',
    ...(send.compressedData ? COMPRESSED_SEND_ARGS : []),
    ...(send.parent === undefined ? [] : ['-p', send.parent]),
    '--',
    send.snapshot,
  ];
  const stages = startPipeline(
    [
      { file: send.btrfsPath, args: sendArgs },
      { file: request.ssh.sshPath, args: argv },
    ],
    { env: ENV, bytesPerSec: request.meter?.bytesPerSec },
  );
  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    stages.kill();
  };
  if (request.signal?.aborted) onAbort();
  request.signal?.addEventListener('abort', onAbort, { once: true });

  // Whoever fails first is the cause; the others fail only as its consequence.
  let first: 'send' | 'ssh' | undefined;
  const [senderExit, sshExit] = stages.exits.map((exit) =>
    // The spawner died under them: a stage with no exit code, the error as its spawnError.
    exit.catch((error: unknown): StageResult => ({ ...interrupted([], error), pid: undefined })),
  ) as [Promise<StageResult>, Promise<StageResult>];
  const watched = [
    senderExit.then((exit) => {
      // A broken link (SIGPIPE, or ECONNRESET: Node's stdio pipes are socketpairs): ssh ended
      // first, either failing (its exit says why) or because the host already had the snapshot
      // and read nothing. Without a process in between, send's exit may be seen before ssh's.
      if (exit.exitCode !== 0 && !brokenLink(exit)) {
        first ??= 'send';
        stages.kill();
      }
      return exit;
    }),
    sshExit.then((exit) => {
      if (exit.exitCode !== 0) {
        first ??= 'ssh';
        stages.kill();
      }
      return exit;
    }),
  ] as const;

  const meter = request.meter;
  let senderPid: number | undefined;
  void stages.pids.then(
    ([pid]) => {
      senderPid = pid;
    },
    () => {},
  );
  let bytes = 0;
  const report = (): Progress => {
    const elapsedMs = performance.now() - started;
    return { bytes, elapsedMs, rateBytesPerSec: elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0 };
  };
  // Polled for progress and for the stall timeout alike: send's counter standing still (or
  // send gone while ssh still waits for the host to finish) for that long stops the transfer.
  const stall = stallWatch(request.ssh.stallTimeoutMs, () => stages.kill());
  let polling = Promise.resolve();
  const progressMs = meter?.onProgress ? Math.max(MIN_POLL_MS, meter.intervalMs ?? 500) : 1000;
  const timer = setInterval(
    () => {
      polling = polling.then(async () => {
        const written = await bytesWritten(senderPid);
        if (written === undefined || written <= bytes) return stall.check();
        bytes = written;
        stall.moved();
        meter?.onProgress?.(report());
      });
    },
    Math.min(progressMs, stall.pollMs),
  );
  try {
    const [sent, received] = await Promise.all(watched);
    const passed = await stages.done.then(
      (result) => result.bytes,
      () => undefined,
    );
    clearInterval(timer);
    await polling;
    bytes = ddBytes(received.stdout) ?? passed ?? bytes;
    meter?.onProgress?.(report());
    return {
      bytes,
      durationMs: performance.now() - started,
      cancelled,
      stalled: stall.stalled,
      sendFailure:
        first === 'send' || (first === undefined && sent.exitCode !== 0 && !brokenLink(sent))
          ? {
              command: [send.btrfsPath, ...sendArgs],
              exitCode: sent.exitCode,
              stderr: sent.spawnError ? String(sent.spawnError) : sent.stderr,
              cause: sent.spawnError,
            }
          : undefined,
      sshExitCode: received.exitCode,
      sshStderr: received.spawnError ? String(received.spawnError) : received.stderr,
      sshStdout: received.stdout,
    };
  } finally {
    clearInterval(timer);
    request.signal?.removeEventListener('abort', onAbort);
  }
}

/** `btrfs send` stopped because its reader went away, not for a reason of its own. */
function brokenLink(exit: StageResult): boolean {
  return exit.signal === 'SIGPIPE' || /Broken pipe|Connection reset by peer/.test(exit.stderr);
}

function printed(stdout: string, word: string): boolean {
  return stdout.split('\n').some((line) => line.trim() === word);
}

function interpret(raw: RawTransfer, request: TransferRequest, command: string[]): TransferOutcome {
  const { host } = request;
  const { bytes } = raw;
  // btrfs receive's "At subvol <name>" progress line is not part of any error.
  const stderr = raw.sshStderr
    .split('\n')
    .filter((line) => !/^At (subvol|snapshot) /.test(line))
    .join('\n');
  if (!raw.cancelled && raw.sshExitCode === 0 && printed(raw.sshStdout, ALREADY_RECEIVED)) {
    // The local send was cut short on purpose (EPIPE): not a send failure.
    return { ok: true, bytes: 0, durationMs: raw.durationMs, alreadyPresent: true };
  }
  if (!raw.cancelled && raw.sendFailure === undefined && raw.sshExitCode === 0) {
    return { ok: true, bytes, durationMs: raw.durationMs, alreadyPresent: false };
  }
  const receiveStarted = printed(raw.sshStdout, RECEIVE_STARTED);
  // ssh's own failure (exit 255: no connection, refused, link lost) is the cause even when the
  // local send's EPIPE was noticed first.
  const kind = classifySshExit(raw.sshExitCode, stderr);
  const linkLost =
    raw.stalled ||
    (!raw.cancelled &&
      (kind !== 'remote' || (raw.sshExitCode === undefined && raw.sendFailure === undefined)));
  const fail = (error: ReplicationError, parentMissing = false): TransferOutcome => ({
    ok: false,
    error,
    parentMissing,
    bytes,
    receiveStarted,
    linkLost,
  });
  const details = { host, command, exitCode: raw.sshExitCode, stderr };
  if (raw.stalled) {
    return fail(
      new ReplicationError(
        'TRANSFER_TIMEOUT',
        `nothing moved between here and ${host} for ${request.ssh.stallTimeoutMs / 1000} s (step: receive): the host or the link is stuck; the transfer was stopped, retry later`,
        { ...details, step: 'receive' },
      ),
    );
  }
  if (raw.cancelled) {
    return fail(
      new ReplicationError('TRANSFER_INTERRUPTED', `send to ${host} was cancelled`, {
        ...details,
        step: 'receive',
      }),
    );
  }
  if (kind !== 'remote') return fail(sshTransportError(host, kind, details));
  if (raw.sendFailure !== undefined) {
    return fail(
      new ReplicationError(
        'SEND_FAILED',
        `btrfs send failed while sending to ${host} (step: send)`,
        { ...raw.sendFailure, host, step: 'send' },
      ),
    );
  }
  if (raw.sshExitCode === undefined) {
    // ssh died from a signal: the link is gone as far as we are concerned.
    return fail(sshTransportError(host, 'interrupted', details));
  }
  if (raw.sshExitCode === CHECK_FAILED) {
    return fail(
      new ReplicationError(
        'RECEIVE_FAILED',
        `cannot check ${request.remoteTarget} on ${host} (step: receive): is something other than a subvolume in the way, or is the snapshots path not on btrfs?`,
        { ...details, step: 'receive' },
      ),
    );
  }
  if (raw.sshExitCode === DELETE_FAILED) {
    return fail(
      new ReplicationError(
        'RECEIVE_FAILED',
        `cannot delete the partial subvolume ${request.remoteTarget} on ${host} (step: receive)`,
        { ...details, step: 'receive' },
      ),
    );
  }
  if (raw.sshExitCode === 127) {
    return fail(
      new ReplicationError(
        'RECEIVE_FAILED',
        `btrfs was not found on ${host} (step: receive): install btrfs-progs there`,
        { ...details, step: 'receive' },
      ),
    );
  }
  if (mentionsMissingParent(stderr)) {
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

/** btrfs receive's missing-parent errors; line by line, literal searches (linear time). */
function mentionsMissingParent(stderr: string): boolean {
  return stderr.split('\n').some((line) => {
    const lower = line.toLowerCase();
    return (
      lower.includes('cannot find parent subvolume') ||
      (lower.includes('parent subvol') && lower.includes('not found'))
    );
  });
}

/**
 * The btrfs-progs version on `host` (`btrfs --version` there), or undefined when its answer
 * is not a version. A host that cannot be reached or refuses us throws the usual typed error;
 * a host that does not answer in time counts as unknown (the transfer then meets the same
 * host and reports it in its own terms).
 */
export async function remoteProgsVersion(
  ssh: SshSettings,
  host: string,
  btrfsPath: string,
  signal?: AbortSignal,
): Promise<[number, number] | undefined> {
  try {
    const result = await runRemote(ssh, host, [btrfsPath, '--version'], 'connect', signal);
    return result.exitCode === 0 ? parseProgsVersion(result.stdout) : undefined;
  } catch (error) {
    if (error instanceof ReplicationError && error.code === 'TRANSFER_TIMEOUT') return undefined;
    throw error;
  }
}
