import { join } from 'node:path';
import { isSubvolume } from '@buttervolume/btrfs';
import { HostName, VolumeName } from '@buttervolume/names';
import { allEnded, startPipeline } from '@buttervolume/spawner';
import { classifySshExit, ReplicationError, SyncFailedError, sshTransportError } from './errors.js';
import { processTree, signalTree, stallWatch, type TreeProcess } from './pipe.js';
import {
  checkPath,
  rsyncHost,
  rsyncShell,
  type SshOptions,
  type SshSettings,
  sshSettings,
} from './ssh.js';

// rsync's exit code for its --timeout.
const RSYNC_TIMEOUT = 30;

export interface SyncOptions {
  /** rsync `--delete`: remove local files the host does not have. */
  delete?: boolean;
  /** rsync `-z`. */
  compress?: boolean;
  /** Stops the running rsync (SIGTERM) and the hosts not yet pulled; the sync rejects. */
  signal?: AbortSignal;
}

export interface SyncVolumeRequest extends SyncOptions {
  volume: string;
  hosts: readonly string[];
  /** Local VOLUMES_PATH. */
  volumesPath: string;
  /** The hosts' VOLUMES_PATH (default: the same as `volumesPath`, as 3.x assumes). */
  remoteVolumesPath?: string;
  ssh?: SshOptions | SshSettings;
  /** The rsync binary (default `rsync`). */
  rsyncPath?: string;
}

export interface SyncHostResult {
  host: HostName;
  durationMs: number;
}

export interface SyncResult {
  volume: VolumeName;
  hosts: SyncHostResult[];
}

function isSettings(value: SshOptions | SshSettings | undefined): value is SshSettings {
  return value !== undefined && 'args' in value && Array.isArray(value.args);
}

/**
 * Pulls `volume` from the same-named volume on each host with rsync over ssh, one host after
 * the other (they write into the same directory). A failing host does not stop the others;
 * all failures are thrown together as a SyncFailedError. Take a local snapshot first if the
 * current content matters: rsync overwrites it.
 */
export async function syncVolume(request: SyncVolumeRequest): Promise<SyncResult> {
  // Everything is validated before the first process starts.
  const volume = VolumeName.parse(request.volume);
  const hosts = request.hosts.map((host) => HostName.parse(host));
  const volumesPath = checkPath('volumes path', request.volumesPath);
  const remoteVolumesPath = checkPath(
    'remote volumes path',
    request.remoteVolumesPath ?? volumesPath,
  );
  const ssh = isSettings(request.ssh) ? request.ssh : sshSettings(request.ssh);
  const rsyncPath = request.rsyncPath ?? 'rsync';
  if (rsyncPath !== 'rsync') checkPath('rsync binary', rsyncPath);
  const shell = rsyncShell(ssh);
  const local = join(volumesPath, volume);
  // 3.x let rsync create a plain directory here, which then looked like a broken volume.
  if (!(await isSubvolume(local))) {
    throw new ReplicationError(
      'NO_SUCH_VOLUME',
      `cannot sync ${volume}: no such volume here (${local} is not a btrfs subvolume); create it first`,
      { step: 'sync' },
    );
  }

  const done: SyncHostResult[] = [];
  const failures: ReplicationError[] = [];
  for (const host of hosts) {
    request.signal?.throwIfAborted();
    const args = [
      '-a',
      '--numeric-ids',
      // Arguments travel inside rsync's protocol, not through the remote shell.
      '-s',
      // A host that stops sending (or stops reading) ends the pull instead of hanging it.
      `--timeout=${Math.ceil(ssh.stallTimeoutMs / 1000)}`,
      ...(request.compress ? ['-z'] : []),
      ...(request.delete ? ['--delete'] : []),
      '-e',
      shell,
      '--',
      `${ssh.user}@${rsyncHost(host)}:${join(remoteVolumesPath, volume)}/`,
      `${local}/`,
    ];
    const started = performance.now();
    const result = await pullWatched(rsyncPath, args, ssh.stallTimeoutMs, request.signal);
    // An abort is the caller's decision, not this host's failure.
    if (result.canceled) request.signal?.throwIfAborted();
    if (result.exitCode === 0) {
      done.push({ host, durationMs: performance.now() - started });
      continue;
    }
    const { stderr } = result;
    const command = [rsyncPath, ...args];
    if (result.stalled || result.exitCode === RSYNC_TIMEOUT) {
      failures.push(
        new ReplicationError(
          'TRANSFER_TIMEOUT',
          `nothing moved between here and ${host} for ${ssh.stallTimeoutMs / 1000} s (step: sync): the host or the link is stuck; the rsync of ${volume} was stopped, retry later`,
          { host, step: 'sync', command, exitCode: result.exitCode, stderr },
        ),
      );
      continue;
    }
    // rsync passes ssh's stderr through and exits 255 or 12 when the transport failed.
    const kind = classifySshExit(255, stderr);
    failures.push(
      kind === 'connect' || kind === 'auth'
        ? sshTransportError(host, kind, { command, exitCode: result.exitCode, stderr })
        : new ReplicationError(
            'SYNC_FAILED',
            `rsync of ${volume} from ${host} failed (step: sync)`,
            {
              host,
              step: 'sync',
              command,
              exitCode: result.exitCode,
              stderr,
            },
          ),
    );
  }
  if (failures.length > 0) throw new SyncFailedError(volume, failures, done);
  return { volume, hosts: done };
}

interface PullResult {
  /** undefined when killed (stall, abort) or not started. */
  exitCode: number | undefined;
  stderr: string;
  canceled: boolean;
  stalled: boolean;
}

// SIGTERM first so rsync can say why in its stderr; SIGKILL for what still runs after this.
const FORCE_KILL_AFTER_MS = 2000;

/**
 * One rsync pull with a stall watch of its own. rsync's `--timeout` does not fire when the
 * remote sender is stopped while ssh stays alive (rsync's keepalives still go out), so what
 * counts is the data read by the local rsync processes (`rchar` of the rsync and the receiver
 * it forks; not ssh's, which its own keepalives move). Stopping one, on a stall or an abort,
 * stops its whole tree: an rsync killed alone leaves its ssh waiting on the stopped host.
 */
async function pullWatched(
  rsyncPath: string,
  args: readonly string[],
  stallTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<PullResult> {
  const pipeline = startPipeline([{ file: rsyncPath, args }], {
    env: { LC_ALL: 'C' },
    maxStdout: 4096,
    forceKillAfterMs: FORCE_KILL_AFTER_MS,
  });
  let root: number | undefined;
  let tree: TreeProcess[] = [];
  let read: number | undefined;
  let canceled = false;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const seen = root === undefined ? tree : await processTree(root).catch(() => tree);
      const all = [...seen, ...tree.filter((p) => !seen.some((s) => s.pid === p.pid))];
      await signalTree(all, 'SIGTERM').catch(() => {});
      pipeline.kill();
      // SIGKILL for those still there once they had their time (an rsync busy on a stopped
      // pipe may ignore SIGTERM's cleanup; ssh waits on the host's side).
      await allEnded(all, FORCE_KILL_AFTER_MS, 100);
      await signalTree(all, 'SIGKILL').catch(() => {});
    })();
  };
  const onAbort = () => {
    canceled = true;
    stop();
  };
  const stall = stallWatch(stallTimeoutMs, stop);
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      if (root === undefined) return;
      tree = await processTree(root).catch(() => tree);
      const comm = tree[0]?.comm;
      const now = tree.filter((p) => p.comm === comm).reduce((sum, p) => sum + p.rchar, 0);
      // A process that ended takes its count away: any change is progress.
      if (now !== read) {
        read = now;
        stall.moved();
      } else stall.check();
    });
  }, stall.pollMs);
  void pipeline.pids.then(
    ([pid]) => {
      root = pid;
    },
    () => {},
  );
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await pipeline.exits[0]!.catch((error: unknown) => ({
      exitCode: undefined,
      stderr: error instanceof Error ? error.message : String(error),
      spawnError: undefined,
    }));
    clearInterval(timer);
    await polling;
    // The ssh it started may outlive a killed rsync: it is stopped before this answers.
    await stopping;
    return {
      exitCode: exit.exitCode,
      stderr: exit.stderr || (exit.spawnError?.message ?? ''),
      canceled,
      stalled: stall.stalled,
    };
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
