import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { FailoverPolicy, NotOwnerResponse } from '@buttervolume/api';
import { ifPresent } from '@buttervolume/files';
import { HostName, MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';
import { PluginError } from '../errors.js';
import { logged } from '../log.js';
import type { ServiceContext } from './context.js';
import { pathExists } from './files.js';
import type { SnapshotService } from './snapshots.js';
import type { CreateVolumeOptions, VolumeService } from './volumes.js';

/**
 * Replicated volumes (`-o replicas=n1,n2,n3`): exactly one node owns a volume and writes it;
 * it sends increments to the others. A Mount on another node asks the owner to hand over.
 * The ownership epoch (+1 at every hand-over or failover) travels with the hand-over answer
 * and is kept in a small record per volume; a higher epoch always wins.
 */
export interface ReplicaRecord {
  volume: VolumeName;
  replicas: HostName[];
  failover: FailoverPolicy;
  /** owner: this node writes the volume; replica: `owner` does. */
  state: 'owner' | 'replica';
  owner: string;
  epoch: number;
  updatedAt: string;
  /** The last hand-over this node made as owner (answered again if the answer was lost). */
  handedOver?: { to: string; snapshot: SnapshotName; epoch: number };
  /** Copies this node found stale (a newer epoch elsewhere) and moved aside, never deleted. */
  setAside?: { path: string; epoch: number; at: string }[];
  /** A forced failover to the newest replica: what it started from and how old that was. */
  failedOver?: { from: string; snapshot: SnapshotName; dataAgeSeconds: number; at: string };
}

/** What a peer's daemon says about a volume (`buttervolume replica`). */
export interface PeerView {
  state: 'owner' | 'replica' | 'none';
  owner: string;
  epoch: number;
  /** The replica set that node records (absent when it names none). */
  replicas?: HostName[];
}

/** `buttervolume replica --set/--add/--remove`: the whole new set, or what to add and remove. */
export type ReplicaSetChange =
  | { set: readonly HostName[]; add?: undefined; remove?: undefined }
  | { set?: undefined; add?: readonly HostName[]; remove?: readonly HostName[] };

export interface ReplicaSetResult {
  record: ReplicaRecord;
  added: HostName[];
  removed: HostName[];
}

export interface HandOverAnswer {
  snapshot: SnapshotName;
  epoch: number;
  /** Nothing was taken or sent: the volume had not changed since `snapshot`, which `to` has. */
  unchanged?: boolean;
  /**
   * For each other replica, the newest snapshot the old owner sent it: where the new owner
   * holds it too, a send marker lets its first send there be incremental.
   */
  held?: Record<string, SnapshotName>;
  /** The replica set as the old owner had it: changed there, it travels with ownership. */
  replicas?: HostName[];
}

/** How this daemon reaches the other nodes' daemons (their CLI over ssh). */
export interface PeerLink {
  view(host: HostName, volume: VolumeName): Promise<PeerView>;
  /** `have`: the newest snapshot of the volume this node holds (lets an unchanged one skip the send). */
  handOver(
    host: HostName,
    volume: VolumeName,
    to: string,
    have?: SnapshotName,
  ): Promise<HandOverAnswer>;
}

/** Tells Docker's copy-up Mount (inside container create) from the container's real Mount. */
export interface MountProbe {
  isRealMount(volume: VolumeName): Promise<boolean>;
}

/** This node's identity: its name, and whether a host name or address means this node. */
export interface NodeIdentity {
  name: string;
  isSelf(host: HostName): Promise<boolean>;
}

export interface ReplicaSettings {
  /** How long a hand-over waits for the owner's containers to unmount. */
  handOverWaitMs: number;
  /** Create refuses `replicas=` (REPLICATED_VOLUMES=false, the managed plugin). */
  refuseCreate?: boolean;
}

export class PeerUnreachableError extends PluginError {
  override name = 'PeerUnreachableError';
  constructor(
    readonly host: string,
    detail: string,
  ) {
    super('PEER_UNREACHABLE', `cannot reach node ${host}: ${detail}`);
  }
}

/** Replica bookkeeping beside the volumes; see ReplicaRecord. */
export class ReplicaService {
  readonly #queues = new Map<string, Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly volumes: VolumeService,
    private readonly snapshots: SnapshotService,
    private readonly send: (snapshot: SnapshotName, host: HostName) => Promise<unknown>,
    private readonly peers: PeerLink,
    private readonly node: NodeIdentity,
    private readonly probe: MountProbe,
    private readonly settings: ReplicaSettings,
  ) {}

  /**
   * Every record, read from disk at the first ask (one listing of VOLUMES_PATH) and then kept:
   * every Get, Mount and Unmount asks, and a read per plain volume (no record) cost a failed
   * open (a thread-pool round trip and an exception) and a cache entry each, 10,000 of them
   * at 10,000 volumes. Only this service writes records (peers go through its daemon) and none
   * is deleted. A record that does not parse is kept as its error, thrown for that volume only.
   */
  #records: Promise<Map<string, ReplicaRecord | Error>> | undefined;

  async record(volume: VolumeName): Promise<ReplicaRecord | undefined> {
    const record = (await this.#allRecords()).get(volume);
    if (record instanceof Error) throw record;
    return record;
  }

  #allRecords(): Promise<Map<string, ReplicaRecord | Error>> {
    this.#records ??= this.#readRecords().catch((error: unknown) => {
      this.#records = undefined; // read again at the next ask
      throw error;
    });
    return this.#records;
  }

  async #readRecords(): Promise<Map<string, ReplicaRecord | Error>> {
    const records = new Map<string, ReplicaRecord | Error>();
    for (const volume of await this.names()) {
      const text = await ifPresent(readFile(this.#recordPath(volume), 'utf8'));
      if (text === undefined) continue;
      try {
        records.set(volume, JSON.parse(text) as ReplicaRecord);
      } catch (error) {
        records.set(volume, error as Error);
      }
    }
    return records;
  }

  /** Names of every volume with a record (replicas included, which have no subvolume yet). */
  async names(): Promise<VolumeName[]> {
    const entries = (await ifPresent(readdir(this.ctx.layout.volumesPath))) ?? [];
    return entries
      .filter((e) => e.startsWith(RECORD_PREFIX) && e.endsWith('.json'))
      .map((e) => e.slice(RECORD_PREFIX.length, -'.json'.length))
      .filter((name): name is VolumeName => VolumeName.is(name));
  }

  /** The view a peer asks for. */
  async view(volume: VolumeName): Promise<PeerView> {
    const record = await this.record(volume);
    if (!record) return { state: 'none', owner: '', epoch: 0 };
    return {
      state: record.state,
      owner: record.owner,
      epoch: record.epoch,
      replicas: record.replicas,
    };
  }

  /**
   * Create with `replicas=`: the first node to create the volume owns it; a node that finds
   * an owner among its peers records itself as a replica and makes no data.
   */
  async create(
    volume: VolumeName,
    replicas: readonly HostName[],
    failover: FailoverPolicy,
    options: CreateVolumeOptions,
  ): Promise<void> {
    if (this.settings.refuseCreate) {
      throw new PluginError(
        'INVALID_REQUEST',
        `replicas=${replicas.join(',')}: this buttervolume does not replicate volumes (REPLICATED_VOLUMES=false, as in the managed plugin); install buttervolume on each swarm node's host instead (see "Running on a Docker Swarm" in the README), nothing was created`,
      );
    }
    const peers = await this.#checkedPeers(volume, replicas);
    await this.#serialise(volume, () =>
      logged(this.ctx.logger, 'replica.create', { volume, replicas: replicas.join(',') }, () =>
        this.#create(volume, replicas, failover, options, peers),
      ),
    );
  }

  /** Create's rules for a replica set: some node besides this one, markers that fit. */
  async #checkedPeers(volume: VolumeName, replicas: readonly HostName[]): Promise<HostName[]> {
    const peers = await this.#peersOf(replicas);
    if (peers.length === 0) {
      throw new PluginError(
        'INVALID_REQUEST',
        `replicas=${replicas.join(',')} names only this node (${this.node.name}): list the other nodes that keep a copy`,
      );
    }
    const sample = SnapshotName.of(volume, this.ctx.now(), { format: this.ctx.dtFormat });
    for (const peer of peers) {
      try {
        MarkerName.of(sample, peer);
      } catch {
        throw new PluginError(
          'INVALID_REQUEST',
          `${volume} cannot be replicated to ${peer}: its send markers (<volume>@<time>@<host>) would be longer than 255 characters; use a shorter volume or host name`,
        );
      }
    }
    return peers;
  }

  /**
   * `buttervolume replica --set/--add/--remove` on the owner: the one place a replica set
   * changes. Added nodes get the next increment (a full send, started now); removed ones are
   * no longer sent to, and keep their copy (snapshots and record), never deleted from here.
   */
  async changeSet(volume: VolumeName, change: ReplicaSetChange): Promise<ReplicaSetResult> {
    const result = await this.#serialise(volume, () =>
      logged(
        this.ctx.logger,
        'replica.set',
        {
          volume,
          ...(change.set ? { set: change.set.join(',') } : {}),
          ...(change.add ? { add: change.add.join(',') } : {}),
          ...(change.remove ? { remove: change.remove.join(',') } : {}),
        },
        () => this.#changeSet(volume, change),
      ),
    );
    if (result.added.length > 0) void this.sendIncrement(volume);
    return result;
  }

  async #changeSet(volume: VolumeName, change: ReplicaSetChange): Promise<ReplicaSetResult> {
    const record = await this.record(volume);
    if (!record) {
      throw new PluginError(
        'INVALID_REQUEST',
        (await this.volumes.exists(volume))
          ? `${volume} is not a replicated volume: its replica set cannot change; clone it into a new volume created with -o replicas=…`
          : `no replicated volume ${volume} on this node`,
      );
    }
    if (record.state !== 'owner') {
      throw new NotOwnerError(volume, record.owner, record.epoch, 'change its replica set there');
    }
    const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
    const listed = (list: readonly string[], host: string) => list.some((h) => same(h, host));
    const twice = (list: readonly HostName[], what: string) => {
      const dup = list.find((h, i) => list.findIndex((o) => same(o, h)) !== i);
      if (dup !== undefined) {
        throw new PluginError('INVALID_REQUEST', `${what}: ${dup} is listed twice`);
      }
    };
    let next: HostName[];
    if (change.set) {
      twice(change.set, 'the new replica set');
      next = [...change.set];
    } else {
      const add = change.add ?? [];
      const remove = change.remove ?? [];
      twice([...add, ...remove], 'the nodes to add and remove');
      for (const host of add) {
        if (listed(record.replicas, host)) {
          throw new PluginError(
            'INVALID_REQUEST',
            `${host} is already a replica of ${volume} (replicas ${record.replicas.join(',')})`,
          );
        }
      }
      for (const host of remove) {
        if (!listed(record.replicas, host)) {
          throw new PluginError(
            'INVALID_REQUEST',
            `${host} is not a replica of ${volume} (replicas ${record.replicas.join(',')})`,
          );
        }
        if (await this.node.isSelf(host)) {
          throw new PluginError(
            'INVALID_REQUEST',
            `${host} is this node, which owns ${volume}: hand the volume over to another node first, then remove ${host} there`,
          );
        }
      }
      next = [...record.replicas.filter((h) => !listed(remove, h)), ...add];
    }
    await this.#checkedPeers(volume, next);
    const added = next.filter((h) => !listed(record.replicas, h));
    const removed = record.replicas.filter((h) => !listed(next, h));
    if (added.length === 0 && removed.length === 0) return { record, added, removed };
    const updated: ReplicaRecord = { ...record, replicas: next, updatedAt: this.#now() };
    await this.#write(updated);
    if (removed.length > 0) {
      this.ctx.logger.info('replica: nodes removed from the set keep their copy', {
        volume,
        removed: removed.join(','),
      });
    }
    return { record: updated, added, removed };
  }

  async #create(
    volume: VolumeName,
    replicas: readonly HostName[],
    failover: FailoverPolicy,
    options: CreateVolumeOptions,
    peers: readonly HostName[],
  ): Promise<void> {
    const existing = await this.record(volume);
    if (existing) {
      if (existing.failover === failover && sameSet(existing.replicas, replicas)) return;
      // The owner changed the set (`buttervolume replica`) and the stack file followed: this
      // replica's record catches up from the owner, never from Create's options alone.
      if (existing.failover === failover && existing.state === 'replica') {
        const owned = await this.peers
          .view(HostName.parse(existing.owner), volume)
          .catch(() => undefined);
        if (owned?.state === 'owner' && owned.replicas && sameSet(owned.replicas, replicas)) {
          await this.#write({ ...existing, replicas: [...owned.replicas], updatedAt: this.#now() });
          return;
        }
      }
      throw new PluginError(
        'INVALID_REQUEST',
        `${volume} is already replicated to ${existing.replicas.join(',')} (failover=${existing.failover}); Create never changes that: change the set on its owner with buttervolume replica --set (see "Running on a Docker Swarm" in the README)`,
      );
    }
    if (await this.volumes.exists(volume)) {
      throw new PluginError(
        'INVALID_REQUEST',
        `${volume} already exists here and is not replicated; Create does not turn an existing volume into a replicated one: clone it into a new replicated volume`,
      );
    }
    // Does another node own it already (the task moved before any hand-over)?
    let owner: { host: HostName; view: PeerView } | undefined;
    for (const peer of peers) {
      const view = await this.peers.view(peer, volume).catch((error: unknown) => {
        this.ctx.logger.warn('replica peer did not answer at create', { volume, peer, error });
        return undefined;
      });
      if (view?.state === 'owner' && (!owner || view.epoch > owner.view.epoch)) {
        owner = { host: peer, view };
      }
    }
    const base = { volume, replicas: [...replicas], failover };
    if (owner) {
      await this.#write({
        ...base,
        state: 'replica',
        owner: owner.host,
        epoch: owner.view.epoch,
        updatedAt: this.#now(),
      });
      return;
    }
    await this.volumes.create(volume, options);
    await this.#write({
      ...base,
      state: 'owner',
      owner: this.node.name,
      epoch: 1,
      updatedAt: this.#now(),
    });
  }

  /**
   * Mount: the owner answers at once; a replica hands over first, except on Docker's copy-up
   * Mount, which gets an empty scratch folder (the owner's data is the volume's content).
   */
  async mount(volume: VolumeName, id: string | undefined): Promise<string> {
    const record = await this.record(volume);
    if (!record || record.state === 'owner') return this.volumes.mount(volume, id);
    if (!(await this.probe.isRealMount(volume))) {
      const scratch = this.#copyUpPath(volume);
      await mkdir(scratch, { recursive: true });
      this.ctx.logger.info('copy-up mount of a replica: no hand-over', { volume, id });
      return scratch;
    }
    await this.#serialise(volume, () =>
      logged(this.ctx.logger, 'replica.takeover', { volume, owner: record.owner }, () =>
        this.#takeOver(volume),
      ),
    );
    return this.volumes.mount(volume, id);
  }

  /** Unmount; when the last container of an owned volume goes, its increment goes at once. */
  async unmount(volume: VolumeName, id: string | undefined): Promise<void> {
    await this.volumes.unmount(volume, id);
    await rm(this.#copyUpPath(volume), { recursive: true, force: true });
    const record = await this.record(volume);
    if (record?.state === 'owner' && this.ctx.mounts.ids(volume).length === 0) {
      void this.sendIncrement(volume);
    }
  }

  /** Every `periodMs`, an increment of each volume this node owns to its replicas. */
  start(periodMs: number): void {
    this.stop();
    let running = false;
    this.#timer = setInterval(() => {
      if (running) return;
      running = true;
      void this.sendIncrements().finally(() => {
        running = false;
      });
    }, periodMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async sendIncrements(): Promise<void> {
    for (const volume of await this.names()) await this.sendIncrement(volume);
  }

  /**
   * One increment of an owned volume to each replica (incremental by the send markers).
   * Before sending, each peer is asked for its epoch: a peer with a newer one owns the volume
   * now (this node was cut off meanwhile), so this copy is set aside, never sent over it.
   */
  sendIncrement(volume: VolumeName): Promise<void> {
    return this.#serialise(volume, async () => {
      const record = await this.record(volume);
      if (record?.state !== 'owner') return;
      const peers = await this.#peersOf(record.replicas);
      for (const peer of peers) {
        // An unreachable peer cannot hold a newer epoch we could see: ask the next one.
        const view = await this.peers.view(peer, volume).catch(() => undefined);
        if (view?.state === 'owner' && view.epoch > record.epoch) {
          await this.#setAsideStale(record, peer, view.epoch);
          return;
        }
      }
      if (!(await this.volumes.exists(volume))) return;
      const snapshot = await this.snapshots.create(volume);
      for (const peer of peers) {
        await this.send(snapshot, peer).catch((error: unknown) => {
          this.ctx.logger.warn('replica increment failed', { volume, peer, snapshot, error });
        });
      }
    }).catch((error: unknown) => {
      this.ctx.logger.warn('replica increment failed', { volume, error });
    });
  }

  /** Moves this node's copy out of the way (kept, hidden from List) and says where. */
  async #moveAside(record: ReplicaRecord): Promise<NonNullable<ReplicaRecord['setAside']>> {
    const setAside = [...(record.setAside ?? [])];
    const path = this.ctx.layout.volume(record.volume);
    if (!(await pathExists(path))) return setAside;
    const aside = `${this.ctx.layout.volumesPath}/.stale-${record.volume}-epoch${record.epoch}-${Date.now()}`;
    await rename(path, aside);
    this.volumes.changed(record.volume);
    setAside.push({ path: aside, epoch: record.epoch, at: this.#now() });
    this.ctx.logger.warn('replica: stale local copy set aside', {
      volume: record.volume,
      path: aside,
    });
    return setAside;
  }

  async #setAsideStale(record: ReplicaRecord, owner: HostName, epoch: number): Promise<void> {
    const { volume } = record;
    const setAside = await this.#moveAside(record);
    this.ctx.logger.error('replica: this copy is stale, another node owns the volume; set aside', {
      volume,
      owner,
      epoch,
      staleEpoch: record.epoch,
      path: setAside?.at(-1)?.path,
    });
    await this.#write({
      ...record,
      state: 'replica',
      owner,
      epoch,
      updatedAt: this.#now(),
      setAside,
    });
  }

  async #takeOver(volume: VolumeName): Promise<void> {
    let record = await this.record(volume);
    if (!record || record.state === 'owner') return;
    const have = await this.snapshots.latest(volume);
    // Follow the owner as the peers know it: each hand-over leaves a pointer to the next.
    for (let hop = 0; hop < 8; hop++) {
      const owner = HostName.parse(record.owner);
      let answer: HandOverAnswer;
      try {
        answer = await this.peers.handOver(owner, volume, this.node.name, have);
      } catch (error) {
        if (error instanceof NotOwnerError && error.owner !== '' && error.owner !== record.owner) {
          record = { ...record, owner: error.owner, epoch: error.epoch };
          continue;
        }
        if (error instanceof PeerUnreachableError) {
          if (record.failover === 'newest') return this.#failOver(record, error);
          throw new PluginError(
            'OWNER_UNREACHABLE',
            `${volume} is owned by ${record.owner}, which cannot be reached (${error.message}); start it again, or create the volume with failover=newest to take over from the newest replica`,
            { cause: error },
          );
        }
        throw error;
      }
      const replicas = answer.replicas?.length ? answer.replicas : record.replicas;
      await this.#adopt({ ...record, replicas }, answer.snapshot, answer.epoch);
      await this.#markHeldBy(answer.snapshot, owner);
      // The other replicas hold what the old owner last sent them; where that is here too,
      // this node's first send to them is incremental from it.
      for (const [host, snapshot] of Object.entries(answer.held ?? {})) {
        const peer = HostName.parse(host);
        if (!(await this.node.isSelf(peer)) && (await this.snapshots.exists(snapshot))) {
          await this.#markHeldBy(snapshot, peer);
        }
      }
      return;
    }
    throw new PluginError('OWNER_UNREACHABLE', `${volume}: no node admits owning it`);
  }

  /** Makes the volume from a received snapshot and records this node as its owner. */
  async #adopt(
    record: ReplicaRecord,
    snapshot: SnapshotName,
    epoch: number,
    failedOver?: ReplicaRecord['failedOver'],
  ): Promise<void> {
    const { volume } = record;
    const path = this.ctx.layout.volume(volume);
    let setAside = record.setAside;
    if (record.handedOver && (await pathExists(path))) {
      // Our copy from before a hand-over we made: its content is the final snapshot we sent.
      await this.ctx.btrfs.deleteSubvolume(path);
    } else {
      setAside = await this.#moveAside(record);
    }
    await this.ctx.btrfs.snapshot(this.ctx.layout.snapshot(snapshot), path, { readonly: false });
    this.volumes.changed(volume);
    const { handedOver: _, ...rest } = record;
    await this.#write({
      ...rest,
      state: 'owner',
      owner: this.node.name,
      epoch,
      updatedAt: this.#now(),
      ...(setAside?.length ? { setAside } : {}),
      ...(failedOver ? { failedOver } : {}),
    });
  }

  /**
   * The old owner made the snapshot it handed over: a send marker saying so lets this node's
   * next increment to it (a hand-back) be incremental instead of full.
   */
  async #markHeldBy(snapshot: SnapshotName, host: HostName): Promise<void> {
    try {
      const marker = MarkerName.of(snapshot, host);
      if (await this.snapshots.exists(marker)) return;
      await this.ctx.btrfs.snapshot(
        this.ctx.layout.snapshot(snapshot),
        this.ctx.layout.snapshot(marker),
        {
          readonly: true,
        },
      );
      this.snapshots.invalidate();
    } catch (error) {
      this.ctx.logger.warn('replica: could not record the send marker of a hand-over', {
        snapshot,
        host,
        error,
      });
    }
  }

  async #failOver(record: ReplicaRecord, cause: PeerUnreachableError): Promise<void> {
    // Not a send the owner's death cut short: that one is still writable under its name.
    const snapshot = await this.snapshots.latest(record.volume, { complete: true });
    if (snapshot === undefined) {
      throw new PluginError(
        'OWNER_UNREACHABLE',
        `${record.volume} is owned by ${record.owner}, which cannot be reached (${cause.message}), and no replica snapshot is here to fail over to`,
      );
    }
    const { timestamp } = SnapshotName.split(snapshot, { format: this.ctx.dtFormat });
    const dataAgeSeconds = Math.max(
      0,
      Math.round((this.ctx.now().getTime() - timestamp.getTime()) / 1000),
    );
    this.ctx.logger.warn('replica: owner unreachable, failing over to the newest replica', {
      volume: record.volume,
      owner: record.owner,
      snapshot,
      dataAgeSeconds,
    });
    await this.#adopt(record, snapshot, record.epoch + 1, {
      from: record.owner,
      snapshot,
      dataAgeSeconds,
      at: this.#now(),
    });
  }

  /**
   * The owner's side of a hand-over: waits (bounded) until no container mounts the volume,
   * takes a final snapshot, sends it (incrementally, by the send markers) and records that
   * `to` owns the volume now.
   */
  async handOver(volume: VolumeName, to: HostName, have?: SnapshotName): Promise<HandOverAnswer> {
    return this.#serialise(volume, () =>
      logged(this.ctx.logger, 'replica.handover', { volume, to, have }, async () => {
        const record = await this.record(volume);
        if (!record) throw new NotOwnerError(volume, '', 0);
        if (record.state !== 'owner') {
          // The answer to a hand-over this node made may have been lost: give it again.
          if (record.handedOver?.to === to) {
            return { ...record.handedOver, replicas: record.replicas };
          }
          throw new NotOwnerError(volume, record.owner, record.epoch);
        }
        await this.#waitUnmounted(volume);
        // `to` holds `have`, the last increment it got from here, and nothing was written since:
        // no snapshot, no send (btrfs' generations prove it; see Btrfs.unchangedSince).
        const unchanged =
          have !== undefined && (await this.snapshots.sentAndUnchanged(volume, to)) === have;
        const snapshot = unchanged ? have : await this.snapshots.create(volume);
        if (!unchanged) await this.send(snapshot, to);
        const held: Record<string, SnapshotName> = {};
        for (const peer of await this.#peersOf(record.replicas)) {
          if (peer.toLowerCase() === to.toLowerCase()) continue;
          const sent = await this.snapshots.lastSent(volume, peer);
          if (sent !== undefined) held[peer] = sent;
        }
        const epoch = record.epoch + 1;
        await this.#write({
          ...record,
          state: 'replica',
          owner: to,
          epoch,
          handedOver: { to, snapshot, epoch },
          updatedAt: this.#now(),
        });
        return { snapshot, epoch, unchanged, held, replicas: record.replicas };
      }),
    );
  }

  async #waitUnmounted(volume: VolumeName): Promise<void> {
    const deadline = Date.now() + this.settings.handOverWaitMs;
    if (this.ctx.mounts.ids(volume).length > 0) {
      this.ctx.logger.info('replica: hand-over waits for containers to unmount', {
        volume,
        ids: this.ctx.mounts.ids(volume).join(','),
      });
    }
    while (this.ctx.mounts.ids(volume).length > 0) {
      if (Date.now() >= deadline) {
        throw new PluginError(
          'VOLUME_IN_USE',
          `${volume} is still mounted here after ${this.settings.handOverWaitMs} ms (${this.ctx.mounts.ids(volume).join(', ')}): stop its container on this node, then mount it again on the new one`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async #peersOf(replicas: readonly HostName[]): Promise<HostName[]> {
    const peers: HostName[] = [];
    for (const host of replicas) if (!(await this.node.isSelf(host))) peers.push(host);
    return peers;
  }

  async #write(record: ReplicaRecord): Promise<void> {
    // After the first read of every record: that read must not put back what was on disk before.
    const records = await this.#allRecords();
    const path = this.#recordPath(record.volume);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { flush: true });
    await rename(tmp, path);
    records.set(record.volume, record);
  }

  #recordPath(volume: VolumeName): string {
    return `${this.ctx.layout.volumesPath}/${RECORD_PREFIX}${volume}.json`;
  }

  #copyUpPath(volume: VolumeName): string {
    return `${this.ctx.layout.volumesPath}/.copyup-${volume}`;
  }

  #now(): string {
    return this.ctx.now().toISOString();
  }

  #serialise<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => {});
    this.#queues.set(key, settled);
    void settled.then(() => {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    });
    return next;
  }
}

/** Hidden in VOLUMES_PATH: a leading '.' is never a volume name, so List skips it. */
const RECORD_PREFIX = '.buttervolume-replica-';

/** The asked node does not own the volume; `owner` is who it thinks does ('' when unknown). */
export class NotOwnerError extends PluginError {
  override name = 'NotOwnerError';
  /** Carried in the answer beside Err, so a peer reads the owner without parsing the text. */
  readonly wire: NotOwnerResponse;
  constructor(
    readonly volume: string,
    readonly owner: string,
    readonly epoch: number,
    /** What to do instead, said after the owner: e.g. "change its replica set there". */
    hint?: string,
  ) {
    super(
      'NOT_OWNER',
      owner === ''
        ? `${volume} is not a replicated volume on this node`
        : `${volume} is owned by ${owner} (epoch ${epoch}), not by this node${hint ? `: ${hint}` : ''}`,
    );
    this.wire = { Err: this.message, Code: 'NOT_OWNER', Owner: owner, Epoch: epoch };
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const norm = (list: readonly string[]) => [...new Set(list.map((h) => h.toLowerCase()))].sort();
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}
