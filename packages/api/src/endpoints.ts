// The socket API as data: every path the daemon serves and the JSON on the wire. Field names
// are COMPAT's (3.x clients and Docker depend on them); our additions are marked.

export type HttpMethod = 'GET' | 'POST';

export interface EndpointSpec {
  /** GET endpoints answer POST too: Docker-style clients post everything. */
  readonly method: HttpMethod;
  readonly path: string;
  /** An optional last path segment the endpoint takes (`<path>/<param>`). */
  readonly param?: string;
}

export const endpoints = {
  // Docker's VolumeDriver protocol.
  activate: { method: 'POST', path: '/Plugin.Activate' },
  create: { method: 'POST', path: '/VolumeDriver.Create' },
  remove: { method: 'POST', path: '/VolumeDriver.Remove' },
  mount: { method: 'POST', path: '/VolumeDriver.Mount' },
  path: { method: 'POST', path: '/VolumeDriver.Path' },
  unmount: { method: 'POST', path: '/VolumeDriver.Unmount' },
  get: { method: 'POST', path: '/VolumeDriver.Get' },
  list: { method: 'POST', path: '/VolumeDriver.List' },
  capabilities: { method: 'POST', path: '/VolumeDriver.Capabilities' },
  // buttervolume's own endpoints.
  snapshot: { method: 'POST', path: '/VolumeDriver.Snapshot' },
  snapshotList: { method: 'GET', path: '/VolumeDriver.Snapshot.List', param: 'volume' },
  snapshotRemove: { method: 'POST', path: '/VolumeDriver.Snapshot.Remove' },
  snapshotRestore: { method: 'POST', path: '/VolumeDriver.Snapshot.Restore' },
  clone: { method: 'POST', path: '/VolumeDriver.Clone' },
  snapshotSend: { method: 'POST', path: '/VolumeDriver.Snapshot.Send' },
  volumeSync: { method: 'POST', path: '/VolumeDriver.Volume.Sync' },
  snapshotsPurge: { method: 'POST', path: '/VolumeDriver.Snapshots.Purge' },
  schedule: { method: 'POST', path: '/VolumeDriver.Schedule' },
  scheduleList: { method: 'GET', path: '/VolumeDriver.Schedule.List' },
  schedulePause: { method: 'POST', path: '/VolumeDriver.Schedule.Pause' },
  scheduleResume: { method: 'POST', path: '/VolumeDriver.Schedule.Resume' },
  // Our additions.
  transfers: { method: 'GET', path: '/Buttervolume.Transfers' },
  version: { method: 'GET', path: '/Buttervolume.Version' },
  /** Each volume's health (all, or `/<volume>`): `buttervolume status` and `check`. */
  status: { method: 'GET', path: '/Buttervolume.Status', param: 'volume' },
  /** Prometheus text format, not JSON (also on METRICS_ADDRESS when set). */
  metrics: { method: 'GET', path: '/metrics' },
  groupSnapshot: { method: 'POST', path: '/Buttervolume.Snapshot.Group' },
  restoreSet: { method: 'POST', path: '/Buttervolume.Snapshot.RestoreSet' },
  volumeContainers: { method: 'POST', path: '/Buttervolume.Volume.Containers' },
  project: { method: 'POST', path: '/Buttervolume.Project' },
  // Replicated volumes: a peer node's daemon asks this one (its CLI over ssh) for these.
  replica: { method: 'POST', path: '/Buttervolume.Replica' },
  handOver: { method: 'POST', path: '/Buttervolume.HandOver' },
  /** Changes a replicated volume's replica set, on its owner (`buttervolume replica --add`…). */
  replicaSet: { method: 'POST', path: '/Buttervolume.Replica.Set' },
} as const satisfies Record<string, EndpointSpec>;

export type EndpointKey = keyof typeof endpoints;

/** `GET /VolumeDriver.Snapshot.List/<volume>`: one volume's snapshots; all of them without. */
export function snapshotListPath(volume?: string): string {
  const base = endpoints.snapshotList.path;
  return volume === undefined ? base : `${base}/${encodeURIComponent(volume)}`;
}

/** `GET /Buttervolume.Status/<volume>`: one volume's health; every volume's without. */
export function statusPath(volume?: string): string {
  const base = endpoints.status.path;
  return volume === undefined ? base : `${base}/${encodeURIComponent(volume)}`;
}

/** The answer to a path the daemon does not serve (HTTP 404). */
export function unknownEndpointError(path: string): ErrResponse {
  return { Err: `unknown endpoint ${path}` };
}

// ---- Wire types: what a client sends and what the daemon answers -------------------------

/** Every answer carries `Err`; a non-empty one is the failure (always HTTP 200). */
export interface ErrResponse {
  Err: string;
  /**
   * Ours, on some failures only: a stable code for programs (e.g. `NOT_OWNER` from Replica and
   * HandOver, with `Owner` and `Epoch`), so they need not match the text of Err.
   */
  Code?: string;
}

/** Create options, all strings as Docker sends them (`docker volume create -o key=value`). */
export interface CreateOpts {
  /** "true" (default) or "false": `chattr +C` on the new subvolume. */
  copyonwrite?: string;
  /** A quota such as "10G", "500M" or "1073741824" (bytes). Our addition. */
  size?: string;
  /** An existing volume or snapshot: the new volume is a writable snapshot of it. Our addition. */
  from?: string;
  /** zstd, lzo, zlib, true (zstd) or false (default), any case: btrfs compression (3.13). */
  compression?: string;
  [opt: string]: string | undefined;
}

export interface NameRequest {
  Name: string;
}

export interface CreateRequest extends NameRequest {
  Opts?: CreateOpts | null;
}

export interface RemoveRequest extends NameRequest {
  /** Our addition: act even when a running container mounts the volume. */
  Force?: boolean;
}

export interface MountRequest extends NameRequest {
  /** Docker's mount ID (the container); Docker before 1.13 sent none. */
  ID?: string;
}

export type UnmountRequest = MountRequest;
export type PathRequest = NameRequest;
export type GetRequest = NameRequest;

export interface ActivateResponse {
  Implements: string[];
  Err?: string;
}

export interface MountResponse extends ErrResponse {
  Mountpoint: string;
}

export type PathResponse = MountResponse;

/** Our addition to Docker's Volume.Status. */
export interface VolumeStatus {
  /** ISO 8601. */
  CreatedAt: string;
  CopyOnWrite: boolean;
  /** The btrfs compression property (`zstd`, `lzo`, `zlib`…); absent when none. */
  Compression?: string;
  QuotaBytes?: number;
  UsageBytes?: number;
  Snapshots: number;
  /** The volume's health in short, as `buttervolume status` has it: OK, WARN or CRIT. */
  Health?: HealthVerdict;
  HealthReason?: string;
  /** ISO 8601 time of the newest snapshot (absent without snapshots). */
  NewestSnapshot?: string;
  /** Per host, the ISO 8601 time of the last successful send. */
  LastSend?: Record<string, string>;
}

export type HealthVerdict = 'OK' | 'WARN' | 'CRIT';

export interface VolumeInfo {
  Name: string;
  Mountpoint?: string;
  /** ISO 8601. */
  CreatedAt?: string;
  Status?: VolumeStatus;
}

export interface GetResponse extends ErrResponse {
  Volume: VolumeInfo;
}

/** One entry of List: the name, and (as Docker's local driver does) where it lives. */
export interface VolumeListEntry {
  Name: string;
  Mountpoint: string;
}

export interface ListResponse extends ErrResponse {
  Volumes: VolumeListEntry[];
}

export interface CapabilitiesResponse {
  Capabilities: { Scope: 'local' | 'global' };
  Err?: string;
}

export type SnapshotRequest = NameRequest;

export interface SnapshotResponse extends ErrResponse {
  Snapshot: string;
  /** The volume's nested subvolumes (relative paths), which the snapshot does not contain. */
  NestedSubvolumes?: string[];
  /** Set when the snapshot lacks something of the volume (its nested subvolumes). */
  Warning?: string;
}

export interface SnapshotListResponse extends ErrResponse {
  Snapshots: string[];
}

export type SnapshotRemoveRequest = NameRequest;

export interface RestoreRequest extends NameRequest {
  /** The volume to replace; defaults to the snapshot's own volume. */
  Target?: string;
  /** Our addition: act even when a running container mounts the target. */
  Force?: boolean;
}

export interface RestoreResponse extends ErrResponse {
  /**
   * The snapshot of the target taken just before it was replaced; absent when the target did
   * not exist (a restore into a new volume replaces nothing).
   */
  VolumeBackup?: string;
  /** Our addition: the snapshot that was restored. */
  Restored: string;
}

/** A replicated volume as this node knows it (Name: the volume). */
export interface ReplicaResponse extends ErrResponse {
  /** `owner`: this node owns it; `replica`: another node does; `none`: not replicated here. */
  State: 'owner' | 'replica' | 'none';
  /** The owning node as this node last knew it. */
  Owner: string;
  /** Ownership epoch: +1 at every hand-over or failover; the higher one is the newer owner. */
  Epoch: number;
  Replicas: string[];
}

/**
 * A new replica set for a volume this node owns: `Set` (the whole list), or `Add` and/or
 * `Remove`. Host names as in `replicas=`.
 */
export interface ReplicaSetRequest extends NameRequest {
  Set?: string[];
  Add?: string[];
  Remove?: string[];
}

export interface ReplicaSetResponse extends ReplicaResponse {
  /** Nodes that were not in the set before: the next increment goes to them (a full send). */
  Added: string[];
  /** Nodes no longer sent to: their copies (snapshots, record) are kept, not deleted. */
  Removed: string[];
}

export interface HandOverRequest extends NameRequest {
  /** The node taking the volume over (it receives the last increment). */
  To: string;
  /**
   * The newest snapshot of the volume the new node holds: when the volume has not changed
   * since that snapshot was sent, nothing is taken or sent and it is the answer.
   */
  Have?: string;
}

export interface HandOverResponse extends ErrResponse {
  /** The final snapshot, now on the new owner, from which it makes its volume. */
  Snapshot: string;
  /** The new owner's epoch. */
  Epoch: number;
  /** Ours: true when the volume had not changed since `Have`, so nothing was sent. */
  Unchanged?: boolean;
  /** Ours: per other replica, the newest snapshot the old owner sent it. */
  Held?: Record<string, string>;
  /** Ours: the replica set as the old owner had it; the new owner keeps it (with the epoch). */
  Replicas?: string[];
}

/** An Err answer of Replica or HandOver from a node that does not own the volume. */
export interface NotOwnerResponse extends ErrResponse {
  Code: 'NOT_OWNER';
  /** Who that node thinks owns it ('' when the volume is not replicated there). */
  Owner: string;
  Epoch: number;
}

export interface CloneRequest extends NameRequest {
  Target: string;
}

export interface CloneResponse extends ErrResponse {
  VolumeCloned: string;
}

export interface SendRequest extends NameRequest {
  Host: string;
  /** Our addition (default true): false forces a full send. */
  Incremental?: boolean;
  /** Our addition: a pattern or calendar policy applied to the host's copies after the send. */
  Purge?: string;
}

export interface SendResponse extends ErrResponse {
  Incremental: boolean;
  Parent: string | null;
  Bytes: number;
  DurationMs: number;
  /** The host already held the snapshot: nothing was sent. */
  AlreadyPresent: boolean;
  /** With `Purge`: the host's copies deleted after the send, and why each was kept or not. */
  HostPurge?: { Purged: string[]; Decisions: PurgeDecision[] };
}

export interface SyncRequest {
  Volumes: string[];
  Hosts: string[];
  /** Our addition: also delete local files missing on the host (rsync --delete). */
  Delete?: boolean;
}

export interface SyncError {
  /** The volume being synced (a request may name several). */
  Volume: string;
  Host: string;
  Err: string;
}

export interface SyncResponse extends ErrResponse {
  /** The safety snapshots taken before syncing. */
  Snapshots: string[];
  Errors: SyncError[];
}

export interface PurgeRequest extends NameRequest {
  Pattern: string;
  Dryrun?: boolean | 'true' | 'false';
  /** Our addition: purge that host's copies of the volume instead of the local snapshots. */
  Host?: string;
}

export interface PurgeDecision {
  Name: string;
  Action: 'keep' | 'purge';
  Reason: string;
}

export interface PurgeResponse extends ErrResponse {
  /** Deleted snapshots; in a dry run, the ones that would go. */
  Purged: string[];
  Decisions: PurgeDecision[];
}

/**
 * Minutes (number or numeric string), 0 / "0" / "delete" to remove the job, "pause", "resume",
 * or (our addition) a 5-field cron expression such as "30 2 * * *".
 */
export type TimerValue = number | string;

export interface ScheduleRequest extends NameRequest {
  /** `snapshot`, `purge:<pattern>`, `replicate:<host>` or `synchronize:<host>,<host>…`. */
  Action: string;
  Timer: TimerValue;
}

/**
 * How a job's latest run ended: "ok", "error" (the message in LastError), "skipped: unchanged"
 * (a skip-unchanged job found nothing new to snapshot or send), or null: never ran.
 */
export type JobOutcome = 'ok' | 'error' | 'skipped: unchanged' | null;

export interface ScheduleEntry {
  Name: string;
  Action: string;
  /** schedule.csv's text, as 3.x answered it: minutes ("60") or a cron expression. */
  Timer: string;
  /** The strings "True" / "False": 3.x clients compare them. */
  Active: 'True' | 'False';
  /** Our additions from here. ISO 8601 or null. */
  LastRun?: string | null;
  LastOutcome?: JobOutcome;
  /** Why the latest run failed; null unless LastOutcome is "error". */
  LastError?: string | null;
  NextRun?: string | null;
  /** The job is running right now. */
  Running?: boolean;
  /** A schedule.csv row that never runs, and why (3.x listed such rows as if they were fine). */
  Invalid?: string;
  /** That row's line number in schedule.csv. */
  Line?: number;
}

export interface ScheduleListResponse extends ErrResponse {
  Schedule: ScheduleEntry[];
  /** Our addition: the whole schedule is paused (3.x then answers only an Err). */
  Paused?: boolean;
}

export interface Transfer {
  Snapshot: string;
  Host: string;
  Bytes: number;
  ElapsedMs: number;
  RateBytesPerSec: number;
}

export interface TransfersResponse extends ErrResponse {
  Transfers: Transfer[];
}

export interface VersionResponse extends ErrResponse {
  Version: string;
}

export interface HealthProblem {
  Verdict: Exclude<HealthVerdict, 'OK'>;
  /** attention, no-snapshot, snapshot-age, no-send, send-age, job-failing, job-paused, schedule-paused */
  Code: string;
  Message: string;
  Host?: string;
  Action?: string;
}

export interface StatusSend {
  Host: string;
  /** ISO 8601 times. */
  LastSuccess: { At: string; Bytes: number; Incremental: boolean; DurationMs: number } | null;
  LastFailure: { At: string; Err: string } | null;
}

export interface StatusJob {
  Action: string;
  Kind: 'snapshot' | 'replicate' | 'purge' | 'synchronize';
  Hosts: string[];
  Timer: string;
  /** The widest gap between two runs, in seconds (what "late" is measured against). */
  PeriodSeconds: number | null;
  Active: boolean;
  LastRun: string | null;
  LastOutcome: 'success' | 'failure' | 'skipped: unchanged' | null;
  LastError: string | null;
  /** Failed runs in a row. */
  Failures: number;
  NextRun: string | null;
}

/** One volume's facts and verdict. */
export interface VolumeHealthEntry {
  Name: string;
  Verdict: HealthVerdict;
  Reason: string;
  Problems: HealthProblem[];
  Snapshots: number;
  NewestSnapshot: string | null;
  Sends: StatusSend[];
  Jobs: StatusJob[];
  SchedulePaused: boolean;
  /** Why the volume needs an operator, or null. */
  Attention: string | null;
  /** Known from the daemon's caches; absent until read once (always there for one volume). */
  CopyOnWrite?: boolean;
  /** The btrfs compression property (`zstd`, `lzo`, `zlib`…) or `none`; known like CopyOnWrite. */
  Compression?: string;
  QuotaBytes?: number;
  UsageBytes?: number;
}

export interface StatusResponse extends ErrResponse {
  /** ISO 8601: when the verdicts were computed. */
  At: string;
  Volumes: VolumeHealthEntry[];
}

// ---- Docker-aware additions: group snapshots, hooks, containers ---------------------------

/** Snapshots of several volumes at one instant (containers paused, hooks run in them). */
export interface GroupSnapshotRequest {
  /** Volumes to snapshot; with Project, added to the project's. */
  Volumes?: string[];
  /** A compose project (label com.docker.compose.project): its containers' buttervolume volumes. */
  Project?: string;
  /** Pause the containers that mount the volumes (default true). */
  Pause?: boolean;
  /** Run the containers' buttervolume.pre-snapshot / post-snapshot hooks (default true). */
  Hooks?: boolean;
}

/** One hook run inside a container, its output cut to a few kB. */
export interface HookReport {
  Container: string;
  Phase: 'pre' | 'post';
  Argv: string[];
  /** null when it timed out or could not start. */
  ExitCode: number | null;
  TimedOut: boolean;
  Stdout: string;
  Stderr: string;
  Truncated: boolean;
  Ms: number;
  Ok: boolean;
  Error?: string;
}

export interface GroupSnapshotResponse extends ErrResponse {
  /** Every snapshot of the set; they share one timestamp. */
  Snapshots: string[];
  Timestamp: string;
  /** Containers frozen while the snapshots were taken. */
  Paused: string[];
  /** From the first pause to the last unpause; null when nothing was paused. */
  PauseMs: number | null;
  TotalMs: number;
  Hooks: HookReport[];
}

/** Restores every snapshot of a set (one timestamp), each volume backed up first. */
export interface RestoreSetRequest {
  /** Any snapshot of the set, `<volume>@<timestamp>`. */
  Name: string;
  /** Only these volumes of the set (default: all of them). */
  Volumes?: string[];
  Force?: boolean;
}

export interface RestoreSetResponse extends ErrResponse {
  Restored: { Volume: string; Snapshot: string; VolumeBackup: string | null }[];
}

export interface ContainerInfo {
  Id: string;
  Name: string;
  State: string;
  /** The buttervolume volumes it mounts. */
  Volumes: string[];
}

export interface VolumeContainersResponse extends ErrResponse {
  Containers: ContainerInfo[];
}

export interface ProjectResponse extends ErrResponse {
  Containers: ContainerInfo[];
  /** The project's volumes that are buttervolume volumes. */
  Volumes: string[];
}
