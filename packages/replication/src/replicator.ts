import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canReceiveCompressed,
  canSendCompressed,
  localSendFeatures,
  type SendFeatures,
} from '@buttervolume/btrfs';
import { HostName, MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';
import type { RetentionPolicy } from '@buttervolume/retention';
import { runCommand } from '@buttervolume/spawner';
import { makeControlDir } from './control-dir.js';
import { ReplicationError } from './errors.js';
import { markersFor, planMarkers } from './markers.js';
import type { Progress } from './progress.js';
import {
  remoteDeletePartial,
  remoteProgsVersion,
  type TransferOutcome,
  transfer,
} from './remote.js';
import { purgeRemote, type RemotePurgeResult } from './remote-purge.js';
import {
  checkPath,
  type SshOptions,
  type SshSettings,
  sshArgv,
  sshSettings,
  withControlMaster,
} from './ssh.js';
import { type SyncOptions, type SyncResult, syncVolume } from './sync.js';

export interface RemotePurgeOptions {
  /** Decide and report only; nothing is deleted on the host. */
  dryRun?: boolean;
  /** The time the policy is applied at (default: now). */
  now?: Date;
  signal?: AbortSignal;
}

/** The part of @buttervolume/btrfs' `Btrfs` that replication uses (a `new Btrfs()` fits). */
export interface ReplicationBtrfs {
  snapshot(src: string, dst: string, options: { readonly: boolean }): Promise<unknown>;
  deleteSubvolume(path: string): Promise<unknown>;
  isSubvolume(path: string): Promise<boolean>;
  listSubvolumes(dir: string): Promise<string[]>;
}

export interface ReplicatorOptions {
  btrfs: ReplicationBtrfs;
  /** Local SNAPSHOTS_PATH (snapshots and send markers). */
  snapshotsPath: string;
  /** Local VOLUMES_PATH. */
  volumesPath: string;
  /** The hosts' SNAPSHOTS_PATH / VOLUMES_PATH; default: the same as here, as 3.x assumes. */
  remoteSnapshotsPath?: string;
  remoteVolumesPath?: string;
  ssh?: SshOptions;
  /** DTFORMAT, for reading the timestamps in snapshot and marker names. */
  timestampFormat?: string;
  /** btrfs binary on the hosts (default `btrfs`, looked up on their PATH). */
  remoteBtrfsPath?: string;
  /** btrfs binary here, for `btrfs send` (default `btrfs` on PATH). */
  btrfsPath?: string;
  rsyncPath?: string;
  /**
   * Protocol 2 with --compressed-data when both ends support it (btrfs-progs 5.19 here and on
   * the host, a kernel here that sends stream version 2), so compressed extents cross at their
   * on-disk size. Default true; false always sends the version 1 stream.
   */
  compressedSends?: boolean;
}

export interface SendSnapshotOptions {
  onProgress?: (progress: Progress) => void;
  /** Minimum time between two progress calls (default 500 ms); one more comes at the end. */
  progressIntervalMs?: number;
  /**
   * Average rate limit of the send stream, in bytes per second. The stream then passes through
   * the spawner process to be held back; without a limit the kernel pipes it from btrfs to ssh.
   */
  bandwidthLimit?: number;
  /** false: send the whole snapshot even when the host has a parent (default true). */
  incremental?: boolean;
  /** `ssh -C`. */
  compress?: boolean;
  /** Cancels the transfer (the partial subvolume is removed from the host). */
  signal?: AbortSignal;
}

export interface SendResult {
  snapshot: SnapshotName;
  host: HostName;
  /** True when only the difference to `parent` was sent. */
  incremental: boolean;
  parent?: SnapshotName;
  /** Bytes of send stream transferred (before ssh compression); 0 when already present. */
  bytes: number;
  /** The whole call: local listing, the remote session, the marker update. */
  durationMs: number;
  /**
   * How long the `btrfs send | ssh | receive` session ran (the ssh session's opening included;
   * the last attempt's when a full send followed a failed incremental one). `durationMs` minus
   * this is the local bookkeeping around it.
   */
  streamMs?: number;
  /** The host already had the snapshot; nothing was sent. */
  alreadyPresent: boolean;
  /** The send stream's protocol: 2 with compressed data when both ends can, else 1. */
  protocol: 1 | 2;
  /** The marker now recording what the host holds of this volume. */
  marker: MarkerName | undefined;
}

/**
 * Sends snapshots to other hosts (btrfs send/receive over ssh, incremental from the send
 * markers) and pulls volumes from them (rsync). One instance per daemon; sends of the same
 * (volume, host) are serialised, since two at once would race on the markers.
 */
export class Replicator {
  readonly #btrfs: ReplicationBtrfs;
  readonly #snapshotsPath: string;
  readonly #volumesPath: string;
  readonly #remoteSnapshotsPath: string;
  readonly #remoteVolumesPath: string;
  readonly #ssh: SshSettings;
  readonly #format: { format?: string };
  readonly #remoteBtrfs: string;
  readonly #rsyncPath: string | undefined;
  readonly #btrfsPath: string;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Settings with the shared-connection options, once the control folder exists. */
  #shared: Promise<{ settings: SshSettings; dir: string | undefined }> | undefined;
  readonly #hostsSeen = new Set<HostName>();
  /** Forwarded sockets by host and remote socket (see forwardSocket). */
  readonly #forwards = new Map<string, Promise<string>>();
  #forwardCount = 0;
  readonly #compressedSends: boolean;
  #localFeatures: Promise<SendFeatures> | undefined;
  /** btrfs-progs versions of the hosts, asked once per host (undefined: unknown, version 1). */
  readonly #remoteProgs = new Map<HostName, readonly [number, number] | undefined>();

  constructor(options: ReplicatorOptions) {
    this.#btrfs = options.btrfs;
    this.#snapshotsPath = checkPath('snapshots path', options.snapshotsPath);
    this.#volumesPath = checkPath('volumes path', options.volumesPath);
    this.#remoteSnapshotsPath = checkPath(
      'remote snapshots path',
      options.remoteSnapshotsPath ?? options.snapshotsPath,
    );
    this.#remoteVolumesPath = checkPath(
      'remote volumes path',
      options.remoteVolumesPath ?? options.volumesPath,
    );
    this.#ssh = sshSettings(options.ssh);
    this.#format = options.timestampFormat === undefined ? {} : { format: options.timestampFormat };
    const remoteBtrfs = options.remoteBtrfsPath ?? 'btrfs';
    this.#remoteBtrfs =
      remoteBtrfs === 'btrfs' ? remoteBtrfs : checkPath('remote btrfs', remoteBtrfs);
    this.#rsyncPath = options.rsyncPath;
    const btrfsPath = options.btrfsPath ?? 'btrfs';
    this.#btrfsPath = btrfsPath === 'btrfs' ? btrfsPath : checkPath('btrfs', btrfsPath);
    this.#compressedSends = options.compressedSends ?? true;
  }

  /**
   * Whether sends to `host` can use protocol 2 with compressed data: this machine's progs and
   * kernel are read once, the host's `btrfs --version` once per host over the shared ssh
   * connection. An unknown answer means version 1, the stream every receiver reads.
   */
  async #compressedTo(ssh: SshSettings, host: HostName, signal?: AbortSignal): Promise<boolean> {
    if (!this.#compressedSends) return false;
    this.#localFeatures ??= localSendFeatures(this.#btrfsPath);
    if (!canSendCompressed(await this.#localFeatures)) return false;
    if (!this.#remoteProgs.has(host)) {
      const progs = await remoteProgsVersion(ssh, host, this.#remoteBtrfs, signal);
      this.#remoteProgs.set(host, progs);
    }
    return canReceiveCompressed(this.#remoteProgs.get(host));
  }

  /**
   * Closes the shared ssh connections (they would otherwise linger ControlPersist seconds) and
   * removes their control folder. The Replicator stays usable: the next call opens new ones.
   */
  async close(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    if (!shared) return;
    this.#forwards.clear();
    const { settings, dir } = await shared;
    if (dir === undefined) return;
    const hosts = [...this.#hostsSeen];
    this.#hostsSeen.clear();
    await Promise.all(
      hosts.map((host) =>
        runCommand(
          settings.sshPath,
          [...settings.args, '-O', 'exit', '-l', settings.user, '--', host],
          { timeoutMs: 5000 },
        ).catch(() => undefined),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * ssh settings for talking to `host` over the connection sends to it share (when enabled),
   * for other short exchanges with that host; close() ends that connection too.
   */
  sharedSsh(host: HostName): Promise<SshSettings> {
    return this.#sshFor(HostName.parse(host));
  }

  /**
   * The path of a local unix socket, in the private control folder, that the shared connection
   * to `host` forwards to `remoteSocket` there (`ssh -O forward -L`): requests to a daemon on
   * `host` then cost no ssh session each. The forward is kept for the next call; `renew`
   * (after the socket stopped answering, e.g. the connection ended idle) cancels it and sets a
   * new one, starting the connection again if it is gone. Throws FORWARD_FAILED when shared
   * connections are off (ControlPersist 0) or ssh refuses; close() ends them all.
   */
  forwardSocket(
    host: HostName,
    remoteSocket: string,
    options: { renew?: boolean } = {},
  ): Promise<string> {
    const target = HostName.parse(host);
    // ssh splits -L on ':'; the path is checked like every path we put on a command line.
    const remote = checkPath('remote socket', remoteSocket);
    if (remote.includes(':')) {
      throw new ReplicationError('INVALID_SETTING', `invalid remote socket ${remote}: no ':'`);
    }
    const key = `${target}\n${remote}`;
    const previous = this.#forwards.get(key);
    if (previous && !options.renew) return previous;
    const forward = this.#forward(target, remote, previous);
    this.#forwards.set(key, forward);
    forward.catch(() => {
      if (this.#forwards.get(key) === forward) this.#forwards.delete(key);
    });
    return forward;
  }

  async #forward(host: HostName, remote: string, previous?: Promise<string>): Promise<string> {
    const ssh = await this.#sshFor(host);
    const dir = (await this.#shared)?.dir;
    if (dir === undefined) {
      throw new ReplicationError(
        'FORWARD_FAILED',
        'no shared ssh connection to forward over (ControlPersist is 0 or its folder is missing)',
        { host },
      );
    }
    const control = (operation: 'forward' | 'cancel', local: string) => {
      const argv = [...ssh.args, '-O', operation, '-L', `${local}:${remote}`];
      return runCommand(ssh.sshPath, [...argv, '-l', ssh.user, '--', host], {
        timeoutMs: ssh.commandTimeoutMs,
      });
    };
    const stale = await previous?.catch(() => undefined);
    if (stale !== undefined) {
      await control('cancel', stale).catch(() => undefined);
      await rm(stale, { force: true });
    }
    this.#forwardCount += 1;
    const local = join(dir, `fw-${this.#forwardCount}.sock`);
    let result = await control('forward', local);
    if (result.exitCode !== 0) {
      // No master (it ended idle, or never started): a short command starts one.
      const start = await runCommand(ssh.sshPath, sshArgv(ssh, host, ['true']), {
        timeoutMs: ssh.commandTimeoutMs,
      });
      if (start.exitCode !== 0) {
        throw new ReplicationError('FORWARD_FAILED', `cannot open an ssh connection to ${host}`, {
          host,
          command: start.command,
          exitCode: start.exitCode,
          stderr: start.stderr,
        });
      }
      await rm(local, { force: true });
      result = await control('forward', local);
    }
    if (result.exitCode !== 0) {
      throw new ReplicationError('FORWARD_FAILED', `ssh refused to forward ${remote} on ${host}`, {
        host,
        command: result.command,
        exitCode: result.exitCode,
        stderr: result.stderr,
      });
    }
    return local;
  }

  /** ssh settings for talking to `host`, sharing one connection per host when enabled. */
  async #sshFor(host: HostName): Promise<SshSettings> {
    this.#hostsSeen.add(host);
    this.#shared ??= this.#openControlDir();
    return (await this.#shared).settings;
  }

  async #openControlDir(): Promise<{ settings: SshSettings; dir: string | undefined }> {
    if (this.#ssh.controlPersistSec === 0) return { settings: this.#ssh, dir: undefined };
    try {
      // 0700: the sockets in it let anyone who reaches them use the session.
      const dir = await makeControlDir();
      return { settings: withControlMaster(this.#ssh, dir), dir };
    } catch {
      // An odd TMPDIR costs the handshake savings, not the send.
      return { settings: this.#ssh, dir: undefined };
    }
  }

  /**
   * Sends `snapshot` to `host`: incrementally from the newest marker for (volume, host) when
   * its snapshot is still here, fully otherwise or when the host lacks that parent. Then
   * writes the marker `<snapshot>@<host>` and drops the superseded ones.
   */
  async send(
    snapshot: SnapshotName,
    host: HostName,
    options: SendSnapshotOptions = {},
  ): Promise<SendResult> {
    // Both end up in a remote shell command line: check them again even though typed, since a
    // brand is only a cast away. Nothing runs before this.
    const name = SnapshotName.parse(snapshot, this.#format);
    const target = HostName.parse(host);
    const { volume } = SnapshotName.split(name, this.#format);
    // The marker this send would write must fit a file name: found out after the data went
    // over, the host would hold a copy no marker records (and the next send would be full).
    MarkerName.of(name, target);
    return this.#serialise(
      `${volume}\n${target}`,
      () => this.#send(name, target, options),
      options.signal,
    );
  }

  /**
   * Applies a retention policy to the host's copies of `volume` (see `purgeRemote`), in the
   * same queue as sends of that (volume, host): a purge never meets a receive in progress,
   * and the parent the newest marker names is read after the previous send wrote it.
   */
  async purgeRemote(
    volume: VolumeName,
    host: HostName,
    policy: RetentionPolicy,
    options: RemotePurgeOptions = {},
  ): Promise<RemotePurgeResult> {
    // They reach a remote command line: parsed again, as in send().
    const name = VolumeName.parse(volume);
    const target = HostName.parse(host);
    return this.#serialise(
      `${name}\n${target}`,
      async () => {
        const names = await this.#btrfs.listSubvolumes(this.#snapshotsPath);
        const newest = markersFor(names, name, target, this.#format.format).at(-1);
        return purgeRemote({
          ssh: await this.#sshFor(target),
          host: target,
          volume: name,
          dir: this.#remoteSnapshotsPath,
          btrfsPath: this.#remoteBtrfs,
          policy,
          marker: newest?.name,
          now: options.now ?? new Date(),
          format: this.#format.format,
          dryRun: options.dryRun ?? false,
          signal: options.signal,
        });
      },
      options.signal,
    );
  }

  /** Pulls `volume` from the same-named volume on each host (see `syncVolume`). */
  async sync(
    volume: string,
    hosts: readonly string[],
    options: SyncOptions = {},
  ): Promise<SyncResult> {
    // Parsed here too, so a hostile host never reaches the shared-connection bookkeeping.
    const targets = hosts.map((host) => HostName.parse(host));
    let ssh = this.#ssh;
    for (const host of targets) ssh = await this.#sshFor(host);
    return syncVolume({
      ...options,
      volume,
      hosts: targets,
      volumesPath: this.#volumesPath,
      remoteVolumesPath: this.#remoteVolumesPath,
      ssh,
      ...(this.#rsyncPath === undefined ? {} : { rsyncPath: this.#rsyncPath }),
    });
  }

  async #send(
    snapshot: SnapshotName,
    host: HostName,
    options: SendSnapshotOptions,
  ): Promise<SendResult> {
    const started = performance.now();
    const { volume } = SnapshotName.split(snapshot, this.#format);
    const localPath = join(this.#snapshotsPath, snapshot);
    if (!(await this.#btrfs.isSubvolume(localPath))) {
      throw new ReplicationError('NO_SUCH_SNAPSHOT', `no such snapshot: ${snapshot}`, {
        host,
        step: 'send',
      });
    }
    const names = await this.#btrfs.listSubvolumes(this.#snapshotsPath);
    const markers = markersFor(names, volume, host, this.#format.format);
    const remotePath = join(this.#remoteSnapshotsPath, snapshot);
    const ssh = await this.#sshFor(host);

    // The session that receives first looks at what the host has at remotePath (see
    // RECEIVE_SCRIPT): complete → nothing is read; left by an interrupted transfer → deleted.
    // The parent is the snapshot the newest marker records (the marker itself has another
    // UUID, which the host does not know); purge spares it, but a user may have removed it.
    const newest = markers.filter((m) => m.snapshot !== snapshot).at(-1);
    let parent =
      options.incremental !== false && newest && names.includes(newest.snapshot)
        ? newest.snapshot
        : undefined;

    let compressed = await this.#compressedTo(ssh, host, options.signal);
    const attempt = () =>
      this.#transfer(ssh, localPath, remotePath, parent, host, compressed, options);
    let outcome = await attempt();
    if (!outcome.ok && compressed && refusesProtocol2(outcome.error)) {
      // The host's receive said otherwise than its version: version 1 from now on.
      await this.#cleanRemote(ssh, host, remotePath, outcome);
      this.#remoteProgs.set(host, undefined);
      compressed = false;
      options.signal?.throwIfAborted();
      outcome = await attempt();
    }
    if (!outcome.ok && outcome.parentMissing && parent !== undefined) {
      // The host lost (or never had) the parent: a full send still gets the snapshot there.
      await this.#cleanRemote(ssh, host, remotePath, outcome);
      parent = undefined;
      options.signal?.throwIfAborted();
      outcome = await attempt();
    }
    const protocol = compressed ? 2 : 1;
    if (!outcome.ok) {
      // Only what this attempt received is removed (now when the host is reachable, else by
      // the next send); a target it never touched may be the host's complete copy.
      await this.#cleanRemote(ssh, host, remotePath, outcome);
      throw outcome.error;
    }
    const marker = await this.#updateMarkers(markers, snapshot, host);
    if (outcome.alreadyPresent) {
      return {
        snapshot,
        host,
        incremental: false,
        bytes: 0,
        durationMs: performance.now() - started,
        streamMs: outcome.durationMs,
        alreadyPresent: true,
        protocol,
        marker,
      };
    }
    return {
      snapshot,
      host,
      incremental: parent !== undefined,
      ...(parent === undefined ? {} : { parent }),
      bytes: outcome.bytes,
      durationMs: performance.now() - started,
      streamMs: outcome.durationMs,
      alreadyPresent: false,
      protocol,
      marker,
    };
  }

  #transfer(
    ssh: SshSettings,
    localPath: string,
    remotePath: string,
    parent: SnapshotName | undefined,
    host: HostName,
    compressedData: boolean,
    options: SendSnapshotOptions,
  ): Promise<TransferOutcome> {
    return transfer({
      ssh,
      host,
      send: {
        btrfsPath: this.#btrfsPath,
        snapshot: localPath,
        parent: parent === undefined ? undefined : join(this.#snapshotsPath, parent),
        compressedData,
      },
      remoteDir: this.#remoteSnapshotsPath,
      remoteTarget: remotePath,
      btrfsPath: this.#remoteBtrfs,
      compress: options.compress,
      signal: options.signal,
      meter: {
        onProgress: options.onProgress,
        intervalMs: options.progressIntervalMs,
        bytesPerSec: options.bandwidthLimit,
      },
    });
  }

  async #cleanRemote(
    ssh: SshSettings,
    host: HostName,
    remotePath: string,
    outcome: Extract<TransferOutcome, { ok: false }>,
  ): Promise<void> {
    // Only once this attempt's receive started at the target (the receiving session had found
    // it absent or partial): before that, whatever is there is not ours. Not after a lost link:
    // the request could reach the host late, during the next attempt (see linkLost). Not under
    // the caller's signal (a cancel is what it cleans up after) but under the command timeout.
    if (!outcome.receiveStarted || outcome.linkLost) return;
    try {
      await remoteDeletePartial(ssh, host, remotePath, this.#remoteBtrfs);
    } catch {
      // Unreachable or stuck host: the next send removes the partial subvolume before receiving.
    }
  }

  async #updateMarkers(
    markers: ReturnType<typeof markersFor>,
    snapshot: SnapshotName,
    host: HostName,
  ): Promise<MarkerName | undefined> {
    const plan = planMarkers(markers, snapshot, host, this.#format.format);
    try {
      if (plan.create !== undefined) {
        await this.#btrfs.snapshot(
          join(this.#snapshotsPath, snapshot),
          join(this.#snapshotsPath, plan.create),
          { readonly: true },
        );
      }
      for (const old of plan.remove)
        await this.#btrfs.deleteSubvolume(join(this.#snapshotsPath, old));
    } catch (error) {
      throw new ReplicationError(
        'MARKER_FAILED',
        `${snapshot} is on ${host}, but the local send marker could not be updated (step: marker): ${String(error)}`,
        { host, step: 'marker', cause: error },
      );
    }
    const kept = plan.create ?? markers.filter((m) => !plan.remove.includes(m.name)).at(-1)?.name;
    return kept;
  }

  /**
   * Runs `fn` after the previous call with the same key has settled. A caller whose signal
   * aborts while it waits leaves the queue at once (a scheduled job's timeout, a client gone);
   * the one after it still waits for the running one.
   */
  async #serialise<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = untilAborted(previous, signal).then(fn);
    const settled = Promise.allSettled([previous, run]).then(() => undefined);
    this.#queues.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    }
  }
}

/** Settles when `turn` does (either way), or rejects with the abort reason first. */
function untilAborted(turn: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  const settled = turn.then(
    () => undefined,
    () => undefined,
  );
  if (!signal) return settled;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** A receive that failed on the stream's protocol, not on the data or the link. */
function refusesProtocol2(error: ReplicationError): boolean {
  if (error.code !== 'RECEIVE_FAILED') return false;
  return (error.stderr ?? '').split('\n').some((line) => {
    const lower = line.toLowerCase();
    return lower.includes('stream version') || lower.includes('unknown command');
  });
}
