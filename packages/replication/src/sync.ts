import { join } from 'node:path';
import { isSubvolume } from '@buttervolume/btrfs';
import { HostName, VolumeName } from '@buttervolume/names';
import { classifySshExit, ReplicationError, SyncFailedError, sshTransportError } from './errors.js';
import { runBounded } from './output.js';
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
    // Only the tail of rsync's (and the host's) output is kept; see MAX_CAPTURE.
    const result = await runBounded(rsyncPath, args, {
      env: { LC_ALL: 'C' },
      signal: request.signal,
      maxStdout: 4096,
    });
    // An abort is the caller's decision, not this host's failure.
    if (result.canceled) request.signal?.throwIfAborted();
    if (result.exitCode === 0) {
      done.push({ host, durationMs: performance.now() - started });
      continue;
    }
    const { stderr } = result;
    const command = [rsyncPath, ...args];
    if (result.exitCode === RSYNC_TIMEOUT) {
      failures.push(
        new ReplicationError(
          'TRANSFER_TIMEOUT',
          `rsync of ${volume} from ${host} moved nothing for ${ssh.stallTimeoutMs / 1000} s and was stopped (step: sync): the host or the link is stuck; retry later`,
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
