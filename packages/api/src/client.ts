// The daemon's client over its unix socket. Arguments are plain strings: the daemon validates
// them again (it is the boundary); callers such as the CLI check names first for a quick,
// local "usage" error.
import { request } from 'node:http';
import {
  type ActivateResponse,
  type CapabilitiesResponse,
  type CloneResponse,
  type CreateOpts,
  type EndpointSpec,
  type ErrResponse,
  endpoints,
  type GetResponse,
  type GroupSnapshotRequest,
  type GroupSnapshotResponse,
  type HandOverResponse,
  type ListResponse,
  type MountResponse,
  type PathResponse,
  type ProjectResponse,
  type PurgeResponse,
  type ReplicaResponse,
  type ReplicaSetResponse,
  type RestoreResponse,
  type RestoreSetResponse,
  type ScheduleListResponse,
  type SendResponse,
  type SnapshotListResponse,
  type SnapshotResponse,
  type StatusResponse,
  type SyncResponse,
  snapshotListPath,
  statusPath,
  type TimerValue,
  type TransfersResponse,
  type VersionResponse,
  type VolumeContainersResponse,
} from './endpoints.js';
import {
  DaemonError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  ProtocolError,
} from './errors.js';

export interface ClientOptions {
  socketPath: string;
  /** Timeout of quick calls in ms (default 30 s). Send and sync never time out by default. */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Overrides this call's timeout; 0 waits forever. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Purging thousands of snapshots deletes thousands of subvolumes. */
const PURGE_TIMEOUT_MS = 10 * 60_000;
/** Errors that mean "no daemon there" rather than "the daemon broke". */
const UNAVAILABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'ENOTDIR']);

export class ButtervolumeClient {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  activate(call?: CallOptions): Promise<ActivateResponse> {
    return this.call(endpoints.activate, {}, call);
  }

  create(name: string, opts?: CreateOpts, call?: CallOptions): Promise<ErrResponse> {
    return this.call(
      endpoints.create,
      opts === undefined ? { Name: name } : { Name: name, Opts: opts },
      call,
    );
  }

  remove(name: string, options: { force?: boolean } & CallOptions = {}): Promise<ErrResponse> {
    return this.call(endpoints.remove, { Name: name, ...force(options) }, options);
  }

  mount(name: string, id: string, call?: CallOptions): Promise<MountResponse> {
    return this.call(endpoints.mount, { Name: name, ID: id }, call);
  }

  path(name: string, call?: CallOptions): Promise<PathResponse> {
    return this.call(endpoints.path, { Name: name }, call);
  }

  unmount(name: string, id: string, call?: CallOptions): Promise<ErrResponse> {
    return this.call(endpoints.unmount, { Name: name, ID: id }, call);
  }

  get(name: string, call?: CallOptions): Promise<GetResponse> {
    return this.call(endpoints.get, { Name: name }, call);
  }

  list(call?: CallOptions): Promise<ListResponse> {
    return this.call(endpoints.list, {}, call);
  }

  capabilities(call?: CallOptions): Promise<CapabilitiesResponse> {
    return this.call(endpoints.capabilities, {}, call);
  }

  snapshot(volume: string, call?: CallOptions): Promise<SnapshotResponse> {
    return this.call(endpoints.snapshot, { Name: volume }, call);
  }

  /** All snapshots, or only `volume`'s. */
  snapshots(volume?: string, call?: CallOptions): Promise<SnapshotListResponse> {
    return this.call({ method: 'GET', path: snapshotListPath(volume) }, undefined, call);
  }

  removeSnapshot(snapshot: string, call?: CallOptions): Promise<ErrResponse> {
    return this.call(endpoints.snapshotRemove, { Name: snapshot }, call);
  }

  /** Restores a snapshot (or a volume's latest snapshot) into `target` (default: its volume). */
  restore(
    name: string,
    options: { target?: string; force?: boolean } & CallOptions = {},
  ): Promise<RestoreResponse> {
    const target = options.target === undefined ? {} : { Target: options.target };
    return this.call(
      endpoints.snapshotRestore,
      { Name: name, ...target, ...force(options) },
      options,
    );
  }

  /** Snapshots of several volumes (or a compose project's) at one instant. */
  groupSnapshot(request: GroupSnapshotRequest, call?: CallOptions): Promise<GroupSnapshotResponse> {
    // Hooks may run for minutes (HOOK_TIMEOUT, up to an hour each): no client-side timeout.
    return this.call(endpoints.groupSnapshot, request, { timeoutMs: 0, ...call });
  }

  /** Restores every snapshot sharing `name`'s timestamp (or only those of `volumes`). */
  restoreSet(
    name: string,
    options: { volumes?: string[]; force?: boolean } & CallOptions = {},
  ): Promise<RestoreSetResponse> {
    const volumes = options.volumes === undefined ? {} : { Volumes: options.volumes };
    return this.call(
      endpoints.restoreSet,
      { Name: name, ...volumes, ...force(options) },
      { ...options, timeoutMs: options.timeoutMs ?? 0 },
    );
  }

  /** The containers (running or not) that mount a volume, from Docker. */
  volumeContainers(volume: string, call?: CallOptions): Promise<VolumeContainersResponse> {
    return this.call(endpoints.volumeContainers, { Name: volume }, call);
  }

  /** A compose project's containers and buttervolume volumes, from Docker. */
  project(name: string, call?: CallOptions): Promise<ProjectResponse> {
    return this.call(endpoints.project, { Name: name }, call);
  }

  /** This node's view of a replicated volume (owner, epoch, replicas). */
  replica(volume: string, call?: CallOptions): Promise<ReplicaResponse> {
    return this.call(endpoints.replica, { Name: volume }, call);
  }

  /** Changes the replica set of a volume this node owns (see ReplicaSetRequest). */
  replicaSet(
    volume: string,
    change: { set?: string[]; add?: string[]; remove?: string[] },
    call?: CallOptions,
  ): Promise<ReplicaSetResponse> {
    return this.call(
      endpoints.replicaSet,
      {
        Name: volume,
        ...(change.set ? { Set: change.set } : {}),
        ...(change.add ? { Add: change.add } : {}),
        ...(change.remove ? { Remove: change.remove } : {}),
      },
      call,
    );
  }

  /**
   * Asks this node, the owner, to hand `volume` over to `to` (see Running on a Docker Swarm);
   * `have`: the newest snapshot of it `to` holds.
   */
  handOver(
    volume: string,
    to: string,
    options: { have?: string | undefined } & CallOptions = {},
  ): Promise<HandOverResponse> {
    const have = options.have === undefined ? {} : { Have: options.have };
    return this.call(endpoints.handOver, { Name: volume, To: to, ...have }, options);
  }

  clone(name: string, target: string, call?: CallOptions): Promise<CloneResponse> {
    return this.call(endpoints.clone, { Name: name, Target: target }, call);
  }

  send(
    snapshot: string,
    host: string,
    options: { incremental?: boolean; purge?: string } & CallOptions = {},
  ): Promise<SendResponse> {
    const incremental =
      options.incremental === undefined ? {} : { Incremental: options.incremental };
    const purge = options.purge === undefined ? {} : { Purge: options.purge };
    return this.call(
      endpoints.snapshotSend,
      { Name: snapshot, Host: host, ...incremental, ...purge },
      {
        timeoutMs: options.timeoutMs ?? 0,
      },
    );
  }

  sync(
    volumes: readonly string[],
    hosts: readonly string[],
    options: { delete?: boolean } & CallOptions = {},
  ): Promise<SyncResponse> {
    const del = options.delete === undefined ? {} : { Delete: options.delete };
    return this.call(
      endpoints.volumeSync,
      { Volumes: volumes, Hosts: hosts, ...del },
      {
        timeoutMs: options.timeoutMs ?? 0,
      },
    );
  }

  purge(
    volume: string,
    pattern: string,
    options: { dryrun?: boolean; host?: string } & CallOptions = {},
  ): Promise<PurgeResponse> {
    const body = {
      Name: volume,
      Pattern: pattern,
      Dryrun: options.dryrun ?? false,
      ...(options.host === undefined ? {} : { Host: options.host }),
    };
    return this.call(endpoints.snapshotsPurge, body, {
      timeoutMs: options.timeoutMs ?? PURGE_TIMEOUT_MS,
    });
  }

  schedule(
    volume: string,
    action: string,
    timer: TimerValue,
    call?: CallOptions,
  ): Promise<ErrResponse> {
    return this.call(endpoints.schedule, { Name: volume, Action: action, Timer: timer }, call);
  }

  scheduleList(call?: CallOptions): Promise<ScheduleListResponse> {
    return this.call(endpoints.scheduleList, undefined, call);
  }

  schedulePause(call?: CallOptions): Promise<ErrResponse> {
    return this.call(endpoints.schedulePause, {}, call);
  }

  scheduleResume(call?: CallOptions): Promise<ErrResponse> {
    return this.call(endpoints.scheduleResume, {}, call);
  }

  /** The sends in flight, for progress displays. */
  transfers(call?: CallOptions): Promise<TransfersResponse> {
    return this.call(endpoints.transfers, undefined, call);
  }

  version(call?: CallOptions): Promise<VersionResponse> {
    return this.call(endpoints.version, undefined, call);
  }

  /** Every volume's health, or only `volume`'s (an unknown one is a DaemonError). */
  status(volume?: string, call?: CallOptions): Promise<StatusResponse> {
    return this.call({ method: 'GET', path: statusPath(volume) }, undefined, call);
  }

  /**
   * One request. Resolves with the parsed answer when its `Err` is empty or absent; rejects with
   * DaemonError (non-empty Err), DaemonUnavailableError, DaemonTimeoutError or ProtocolError.
   */
  call<T>(endpoint: EndpointSpec, body?: unknown, options: CallOptions = {}): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (error: Error) => {
        clearTimeout(timer);
        req.destroy();
        reject(error);
      };
      const req = request(
        {
          socketPath: this.socketPath,
          method: endpoint.method,
          path: endpoint.path,
          headers: {
            Host: 'buttervolume',
            ...(payload === undefined
              ? {}
              : {
                  'Content-Type': 'application/json',
                  'Content-Length': Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => fail(lostAnswer(endpoint.path, error)));
          res.on('end', () => {
            clearTimeout(timer);
            try {
              resolve(
                decode<T>(endpoint.path, res.statusCode, Buffer.concat(chunks).toString('utf8')),
              );
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? '';
        fail(
          UNAVAILABLE.has(code)
            ? new DaemonUnavailableError(this.socketPath, code, { cause: error })
            : lostAnswer(endpoint.path, error),
        );
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => fail(new DaemonTimeoutError(endpoint.path, timeoutMs)), timeoutMs);
      }
      req.end(payload);
    });
  }
}

function force(options: { force?: boolean }): { Force?: boolean } {
  return options.force === undefined ? {} : { Force: options.force };
}

function lostAnswer(path: string, error: NodeJS.ErrnoException): ProtocolError {
  return new ProtocolError(
    path,
    `the connection to the buttervolume daemon broke during ${path} (${error.code ?? error.message}); ` +
      'check the daemon log: the operation may or may not have happened',
  );
}

function decode<T>(path: string, statusCode: number | undefined, text: string): T {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new ProtocolError(
      path,
      `the daemon answered ${path} with something other than JSON (HTTP ${statusCode}): ${excerpt(text)}; ` +
        "is the socket really buttervolume's?",
      statusCode,
      text,
    );
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    throw new ProtocolError(
      path,
      `the daemon answered ${path} with JSON that is not an object: ${excerpt(text)}`,
      statusCode,
      text,
    );
  }
  const err = (answer as { Err?: unknown }).Err;
  if (typeof err === 'string' && err !== '') throw new DaemonError(path, err, answer);
  if (err !== undefined && typeof err !== 'string') {
    throw new ProtocolError(
      path,
      `the daemon answered ${path} with a non-string Err: ${excerpt(text)}`,
      statusCode,
      text,
    );
  }
  if (statusCode !== 200) {
    throw new ProtocolError(
      path,
      `the daemon answered ${path} with HTTP ${statusCode}: ${excerpt(text)}`,
      statusCode,
      text,
    );
  }
  return answer as T;
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 120)}…` : flat);
}
