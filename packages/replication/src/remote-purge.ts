import { type HostName, MarkerName, SnapshotName, type VolumeName } from '@buttervolume/names';
import { explainPurge, type PurgeExplanation, type RetentionPolicy } from '@buttervolume/retention';
import { ReplicationError } from './errors.js';
import { type RemoteResult, runRemote } from './remote.js';
import type { SshSettings } from './ssh.js';

// The host's entries of one volume, one per line, run in its snapshots folder: `<volume>@…`
// only (a volume name holds no '@', so another volume never matches). The quoted part of the
// glob is literal, whatever the volume name; an unmatched glob stays itself and fails -e.
const LIST = 'for f in "$2"@*; do if [ -e "$f" ]; then printf \'%s\\n\' "$f"; fi; done';
const NO_FOLDER = 104;

/**
 * Fixed text; the folder, volume, btrfs binary and mode arrive as $1 $2 $3 $4.
 * Lists the volume's entries, or deletes the NUL-separated names on stdin then lists what is
 * left, in one session: what was deleted is what is no longer listed, whatever btrfs said.
 */
const SCRIPT = [
  `cd -- "$1" || exit ${NO_FOLDER}`,
  'if [ "$4" = delete ]; then xargs -0 -r "$3" subvolume delete -- >/dev/null; s=$?; else s=0; fi',
  LIST,
  'exit $s',
].join('; ');

/** Largest listing read back: 100,000 names of 255 characters fit, with room. */
const MAX_LISTING = 32 * 1024 * 1024;

export interface RemotePurgeRequest {
  ssh: SshSettings;
  host: HostName;
  volume: VolumeName;
  /** The host's SNAPSHOTS_PATH. */
  dir: string;
  btrfsPath: string;
  policy: RetentionPolicy;
  /** The local send marker naming the parent of the next incremental send to `host`. */
  marker: MarkerName | undefined;
  now: Date;
  format: string | undefined;
  dryRun: boolean;
  signal?: AbortSignal | undefined;
}

export interface RemotePurgeResult {
  host: HostName;
  volume: VolumeName;
  /** Deleted on the host; in a dry run, what would be deleted. */
  purged: SnapshotName[];
  /** Retention's decision for each of the host's copies. */
  decisions: PurgeExplanation[];
  /** Listing, deciding and deleting, both sessions included. */
  durationMs: number;
}

/**
 * Applies `policy` to the host's copies of `volume`: one session lists them, the decision is
 * made here, one more session deletes the doomed ones and lists again. Only names that parse
 * as snapshots of the volume are deleted; the host's own send markers, and the snapshot the
 * local marker names as the next send's parent, are kept.
 */
export async function purgeRemote(request: RemotePurgeRequest): Promise<RemotePurgeResult> {
  const started = performance.now();
  const { host, volume } = request;
  const options = request.format === undefined ? {} : { format: request.format };
  const listed = parseListing(await session(request, 'list'), request);
  // The local marker goes in with the host's names so retention's marker rule keeps its
  // snapshot (and says why); it is no copy of the host's and is left out of the answer.
  const names = request.marker === undefined ? listed : [...listed, request.marker];
  const decisions = explainPurge(names, request.policy, request.now, options)
    .filter((d) => d.name !== request.marker)
    .map((d) =>
      d.decision === 'keep' || isCopy(d.name, volume, options)
        ? d
        : { name: d.name, decision: 'keep' as const, reason: HOSTS_OWN },
    );
  const doomed = decisions.filter((d) => d.decision === 'purge').map((d) => d.name as SnapshotName);
  const result = (purged: SnapshotName[]): RemotePurgeResult => ({
    host,
    volume,
    purged,
    decisions,
    durationMs: performance.now() - started,
  });
  if (request.dryRun || doomed.length === 0) return result(request.dryRun ? doomed : []);
  const answer = await session(request, 'delete', doomed);
  const left = new Set(parseListing(answer, request));
  const purged = doomed.filter((name) => !left.has(name));
  if (purged.length < doomed.length) {
    throw new ReplicationError(
      'REMOTE_PURGE_FAILED',
      `purge of ${volume} on ${host} deleted ${purged.length} of ${doomed.length} snapshot(s) (step: purge); still there: ${doomed.filter((n) => left.has(n)).join(', ')}`,
      { host, step: 'purge', exitCode: answer.exitCode, stderr: answer.stderr },
    );
  }
  return result(purged);
}

/** What the host's own entries (its send markers to further hosts) are left as. */
const HOSTS_OWN = "kept: the host's own send marker, not a copy";

function isCopy(name: string, volume: VolumeName, options: { format?: string }): boolean {
  if (MarkerName.is(name, options) || !SnapshotName.is(name, options)) return false;
  return SnapshotName.split(name, options).volume === volume;
}

async function session(
  request: RemotePurgeRequest,
  mode: 'list' | 'delete',
  names: readonly SnapshotName[] = [],
): Promise<RemoteResult> {
  const { host } = request;
  const remote = ['sh', '-c', SCRIPT, 'sh', request.dir, request.volume, request.btrfsPath, mode];
  const result = await runRemote(request.ssh, host, remote, 'purge', request.signal, {
    maxStdout: MAX_LISTING,
    // NUL-separated on stdin: no length limit, and no character of a name is special there.
    ...(mode === 'delete' ? { input: `${names.join('\0')}\0` } : {}),
  });
  if (result.exitCode === 0 || (mode === 'delete' && result.exitCode === 123)) return result;
  const why =
    result.exitCode === NO_FOLDER
      ? `${request.dir} is missing on ${host}`
      : result.exitCode === 127
        ? `btrfs or a shell tool was not found on ${host}`
        : `the ${mode === 'list' ? 'listing' : 'deletion'} failed on ${host}`;
  throw new ReplicationError(
    'REMOTE_PURGE_FAILED',
    `cannot purge ${request.volume} on ${host} (step: purge): ${why}`,
    { host, step: 'purge', command: remote, exitCode: result.exitCode, stderr: result.stderr },
  );
}

function parseListing(result: RemoteResult, request: RemotePurgeRequest): string[] {
  if (result.stdout.length >= MAX_LISTING) {
    throw new ReplicationError(
      'REMOTE_PURGE_FAILED',
      `${request.host} listed more than ${MAX_LISTING} bytes of ${request.volume}'s snapshots (step: purge); purge there by hand`,
      { host: request.host, step: 'purge' },
    );
  }
  return result.stdout.split('\n').filter((line) => line !== '');
}
