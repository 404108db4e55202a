import { readdir } from 'node:fs/promises';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { NoSuchPathError } from '@buttervolume/btrfs';
import {
  type HostName,
  MarkerName,
  SnapshotName,
  type VolumeName,
  type VolumeSource,
  volumeOf,
} from '@buttervolume/names';
import { markersFor } from '@buttervolume/replication';
import {
  explainPurge,
  type PurgeExplanation,
  parseSnapshotName,
  type RetentionPolicy,
} from '@buttervolume/retention';
import { NoSuchSnapshotError, NoSuchVolumeError, PluginError } from '../errors.js';
import { logged } from '../log.js';
import type { ServiceContext } from './context.js';
import { DirCache } from './dir-cache.js';
import { pathExists } from './files.js';

/** Names handled between two turns of the event loop in a long sweep (a purge's 2,000). */
const YIELD_EVERY = 100;
/** Entries of a listing handled between two turns of the event loop (map lookups, no parsing). */
const INDEX_SLICE = 1000;

export interface SnapshotIndex {
  /** Every entry of SNAPSHOTS_PATH, sorted: 3.x listed the folder as it is. */
  all: string[];
  /** Entries per volume (the part before the first '@'). */
  byVolume: Map<string, string[]>;
}

/** One volume's snapshots in short (markers not counted). */
export interface SnapshotSummary {
  count: number;
  /** Epoch ms of the newest snapshot's timestamp; null without snapshots. */
  newest: number | null;
}

export interface PurgeResult {
  /** Deleted; in a dry run, what would be deleted. */
  purged: string[];
  /** Retention's decision for every snapshot and marker of the volume, as it gave them. */
  decisions: readonly PurgeExplanation[];
}

/** Snapshots and send markers in SNAPSHOTS_PATH. */
/** A set of snapshot names chosen and held (see SnapshotService.reserveSetLocked). */
export interface ReservedSet {
  readonly names: readonly SnapshotName[];
  /** Takes the snapshots now; if one fails, the others are removed again. */
  take(): Promise<SnapshotName[]>;
  release(): void;
}

type ParsedNames = Map<string, ReturnType<typeof parseSnapshotName>>;

export class SnapshotService {
  readonly #index: DirCache<SnapshotIndex>;
  #parsed: ParsedNames = new Map();
  // Parsing 100,000 names costs tens of ms: once per listing, not per status call or scrape.
  readonly #summaries = new WeakMap<SnapshotIndex, Map<string, SnapshotSummary>>();
  readonly #counts = new WeakMap<SnapshotIndex, Map<string, number>>();
  /** Names chosen by snapshots still being taken. */
  readonly #taking = new Set<string>();

  constructor(private readonly ctx: ServiceContext) {
    this.#index = new DirCache(ctx.layout.snapshotsPath, () => this.#readIndex());
  }

  /** Every entry (or one volume's), markers included, as 3.x listed them. */
  async list(volume?: VolumeName): Promise<string[]> {
    const index = await this.#index.get();
    return volume === undefined ? index.all : (index.byVolume.get(volume) ?? []);
  }

  /** How many snapshots (markers not counted) a volume has. */
  async count(volume: VolumeName): Promise<number> {
    // A figure for Get: our own snapshots and purges count at once (DirCache.patch); one made
    // behind our back may lag a re-read held up by a purge's deletes (DirCache.recent).
    // Counted once per listing: a Get of a volume with 2,000 snapshots during its purge looked
    // each of them up again, on the event loop every Docker call waits for.
    const index = await this.#index.recent();
    let counts = this.#counts.get(index);
    if (counts === undefined) {
      counts = new Map();
      this.#counts.set(index, counts);
    }
    let count = counts.get(volume);
    if (count === undefined) {
      // In one go: the listing's names are parsed already (#readIndex). In slices (every 100),
      // the Get waited behind the purge between them (p99 79 ms in purges of 2,000, 43 without).
      count = 0;
      for (const name of index.byVolume.get(volume) ?? []) if (this.#isSnapshot(name)) count++;
      counts.set(volume, count);
    }
    return count;
  }

  /** Count and newest time per volume, from the cached listing (one stat when unchanged). */
  async summaries(): Promise<ReadonlyMap<string, SnapshotSummary>> {
    const index = await this.#index.get();
    let summaries = this.#summaries.get(index);
    if (summaries === undefined) {
      summaries = new Map();
      let seen = 0;
      for (const [volume, names] of index.byVolume) {
        let count = 0;
        let newest: number | null = null;
        for (const name of names) {
          if (++seen % YIELD_EVERY === 0) await yieldToLoop();
          const parsed = this.#parse(name);
          if (parsed === undefined || parsed.host !== undefined) continue;
          count++;
          const time = parsed.timestamp.getTime();
          if (newest === null || time > newest) newest = time;
        }
        summaries.set(volume, { count, newest });
      }
      this.#summaries.set(index, summaries);
    }
    return summaries;
  }

  /** Takes a read-only snapshot of a volume, under its structural lock (shared). */
  create(volume: VolumeName): Promise<SnapshotName> {
    return this.ctx.locks.read(volume, () =>
      logged(this.ctx, 'snapshot', { volume }, () => this.createLocked(volume)),
    );
  }

  /**
   * create(), and which nested subvolumes of the volume the snapshot does not contain (btrfs
   * leaves an empty folder in their place). A fresh look is one `btrfs subvolume list` of the
   * whole filesystem, dearer than the snapshot itself: the listing Get answers from (at most
   * 10 s old) says whether the volume holds any, and only then is it looked at afresh. A
   * nested subvolume made in a volume that had none shows from the next listing on.
   */
  async take(volume: VolumeName): Promise<{ name: SnapshotName; lacking: string[] }> {
    const path = this.ctx.layout.volume(volume);
    const unknown = (error: unknown) => {
      this.ctx.logger.warn('could not list nested subvolumes', { volume, error });
      return [];
    };
    const known = await this.ctx.nested.of(volume).catch(unknown);
    const [name, lacking] = await Promise.all([
      this.create(volume),
      known.length === 0 ? [] : this.ctx.nested.check(volume, path).catch(unknown),
    ]);
    return { name, lacking };
  }

  /**
   * create(), unless btrfs says the volume has not changed since its newest snapshot (see
   * Btrfs.unchangedSince): then nothing is taken and `taken` is false. The newest by name is
   * asked: the check itself makes sure the volume holds exactly what that snapshot holds.
   */
  createIfChanged(volume: VolumeName): Promise<{ snapshot: SnapshotName; taken: boolean }> {
    return this.ctx.locks.read(volume, () =>
      logged(this.ctx, 'snapshot', { volume, skipUnchanged: true }, async () => {
        this.ctx.attention.check(volume);
        const newest = this.#newestByName(await this.#readVolumeEntries(volume));
        if (newest !== undefined && (await this.unchangedSince(volume, newest))) {
          return { snapshot: newest, taken: false };
        }
        return { snapshot: await this.createLocked(volume), taken: true };
      }),
    );
  }

  /**
   * True when the volume has not changed since `host` received it: its newest send marker
   * records a snapshot still here, and the volume is unchanged since that snapshot.
   */
  async unchangedSinceSent(volume: VolumeName, host: HostName): Promise<boolean> {
    return (await this.sentAndUnchanged(volume, host)) !== undefined;
  }

  /** unchangedSinceSent, answering the snapshot `host` received (undefined when not so). */
  async sentAndUnchanged(volume: VolumeName, host: HostName): Promise<SnapshotName | undefined> {
    const sent = await this.lastSent(volume, host);
    if (sent === undefined) return undefined;
    return (await this.unchangedSince(volume, sent)) ? sent : undefined;
  }

  /** The snapshot the newest send marker for (volume, host) records, when it is still here. */
  async lastSent(volume: VolumeName, host: HostName): Promise<SnapshotName | undefined> {
    const names = await this.#readVolumeEntries(volume);
    const marker = markersFor(names, volume, host, this.ctx.dtFormat).at(-1);
    return marker !== undefined && names.includes(marker.snapshot) ? marker.snapshot : undefined;
  }

  /** Whether btrfs proves the volume unchanged since `snapshot` (one of its own) was taken. */
  async unchangedSince(volume: VolumeName, snapshot: SnapshotName): Promise<boolean> {
    const path = this.ctx.layout.volume(volume);
    if (!(await this.ctx.btrfs.isSubvolume(path))) throw new NoSuchVolumeError(volume);
    const check = await this.ctx.btrfs.unchangedSince(path, this.ctx.layout.snapshot(snapshot));
    this.ctx.logger.debug('unchanged check', { volume, snapshot, ...check });
    return check.unchanged;
  }

  /** For callers that already hold the volume's structural lock (restore). */
  async createLocked(volume: VolumeName): Promise<SnapshotName> {
    this.ctx.attention.check(volume);
    const source = this.ctx.layout.volume(volume);
    if (!(await this.ctx.btrfs.isSubvolume(source))) throw new NoSuchVolumeError(volume);
    const name = await this.#freshName(volume);
    try {
      await this.ctx.btrfs.snapshot(source, this.ctx.layout.snapshot(name), { readonly: true });
    } finally {
      this.#taking.delete(name);
    }
    // Known by name: Get's count answers it without a listing (see DirCache.patch).
    this.#index.patch((index) => withEntries(index, { added: [name] }));
    return name;
  }

  /**
   * Snapshots several volumes with one timestamp in every name, so they are recognisable as a
   * set; the caller holds every volume's lock. All are taken concurrently (the group's pause
   * lasts as long as the slowest one); if one fails, the others of the set are removed again.
   */
  async createSetLocked(volumes: readonly VolumeName[]): Promise<SnapshotName[]> {
    return (await this.reserveSetLocked(volumes)).take();
  }

  /**
   * createSetLocked in two steps: the checks and the names now, the snapshots at `take()`
   * (so a group snapshot does the first part before it pauses anything). A set never taken
   * gives its names back with `release()`.
   */
  async reserveSetLocked(volumes: readonly VolumeName[]): Promise<ReservedSet> {
    for (const volume of volumes) {
      this.ctx.attention.check(volume);
      if (!(await this.ctx.btrfs.isSubvolume(this.ctx.layout.volume(volume)))) {
        throw new NoSuchVolumeError(volume);
      }
    }
    const names = await this.#freshNames(volumes);
    const release = () => {
      for (const name of names) this.#taking.delete(name);
    };
    return { names, take: () => this.#takeSet(volumes, names, release), release };
  }

  async #takeSet(
    volumes: readonly VolumeName[],
    names: readonly SnapshotName[],
    release: () => void,
  ): Promise<SnapshotName[]> {
    const results = await Promise.allSettled(
      volumes.map((volume, i) =>
        this.ctx.btrfs.snapshot(
          this.ctx.layout.volume(volume),
          this.ctx.layout.snapshot(names[i] as SnapshotName),
          {
            readonly: true,
          },
        ),
      ),
    );
    release();
    const failed = results.find((r) => r.status === 'rejected');
    if (!failed) {
      this.#index.patch((index) => withEntries(index, { added: names }));
      return [...names];
    }
    try {
      await Promise.all(
        names
          .filter((_, i) => results[i]?.status === 'fulfilled')
          .map((name) =>
            this.ctx.btrfs.deleteSubvolume(this.ctx.layout.snapshot(name)).catch((error: unknown) =>
              this.ctx.logger.error('could not remove a snapshot of a set that failed', {
                snapshot: name,
                error,
              }),
            ),
          ),
      );
    } finally {
      // Some of the set may be left (their removal failed): not known by name.
      this.#index.invalidate();
    }
    throw (failed as PromiseRejectedResult).reason;
  }

  async exists(name: SnapshotName | MarkerName): Promise<boolean> {
    return this.ctx.btrfs.isSubvolume(this.ctx.layout.snapshot(name));
  }

  /**
   * The newest snapshot of a volume by creation time (markers excluded). `complete`: only a
   * read-only one; `btrfs receive` makes its target read-only once the whole stream is in, so
   * this skips what an interrupted receive left under a snapshot's name.
   */
  async latest(
    volume: VolumeName,
    options: { complete?: boolean } = {},
  ): Promise<SnapshotName | undefined> {
    // By creation time (otime), not by the name: a clock that jumped forward dates a name in
    // the future, and that snapshot would win forever. One listing for all snapshots.
    const otimes = await this.ctx.btrfs.snapshotTimes(this.ctx.layout.snapshotsPath);
    const candidates: { name: string; created: number; time: number }[] = [];
    for (const name of await this.#readVolumeEntries(volume)) {
      const parsed = parseSnapshotName(name, this.ctx.dtFormat);
      if (!parsed || parsed.host !== undefined) continue;
      const time = parsed.timestamp.getTime();
      // otime has whole seconds: snapshots of the same second go by their names' time.
      const created = otimes.get(this.ctx.layout.snapshot(name as SnapshotName))?.getTime() ?? time;
      candidates.push({ name, created, time });
    }
    candidates.sort(
      (a, b) =>
        b.created - a.created ||
        b.time - a.time ||
        (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
    );
    for (const { name } of candidates) {
      const snapshot = SnapshotName.parse(name, { format: this.ctx.dtFormat });
      if (!options.complete) return snapshot;
      if (await this.ctx.btrfs.isReadOnly(this.ctx.layout.snapshot(snapshot)).catch(() => false)) {
        return snapshot;
      }
    }
    return undefined;
  }

  async remove(name: SnapshotName | MarkerName): Promise<void> {
    const volume = volumeOf(name);
    await this.ctx.locks.read(volume, () =>
      logged(this.ctx, 'snapshot.remove', { snapshot: name }, async () => {
        const path = this.ctx.layout.snapshot(name);
        if (!(await this.ctx.btrfs.isSubvolume(path))) throw new NoSuchSnapshotError(name);
        await this.ctx.btrfs.deleteSubvolume(path);
        this.#index.patch((index) => withEntries(index, { removed: [name] }));
      }),
    );
  }

  /**
   * Applies a retention pattern or calendar policy to one volume's snapshots. Send markers go through the same
   * plan: retention keeps the newest marker per host and the snapshot it records.
   */
  async purge(volume: VolumeName, pattern: RetentionPolicy, dryrun: boolean): Promise<PurgeResult> {
    return this.ctx.locks.job(volume, 'purge', () =>
      logged(this.ctx, 'purge', { volume, pattern: pattern.text, dryrun }, async () => {
        // An unfinished restore's journal names its backup snapshot: keep them all until fixed.
        this.ctx.attention.check(volume);
        const names = await this.#readVolumeEntries(volume);
        const decisions = explainPurge(names, pattern, this.ctx.now(), {
          format: this.ctx.dtFormat,
        });
        const doomed = decisions.filter((d) => d.decision === 'purge').map((d) => d.name);
        if (dryrun) return { purged: doomed, decisions };
        // Parsed before they become paths again: a name that does not parse is a failure of its
        // own, not a reason to keep the others.
        const failures: string[] = [];
        const paths = new Map<string, string>();
        for (const [index, name] of doomed.entries()) {
          // 2,000 names parsed at once, right after explainPurge, kept Docker's calls waiting.
          if (index % YIELD_EVERY === YIELD_EVERY - 1) await yieldToLoop();
          try {
            paths.set(this.ctx.layout.snapshot(this.#entryName(name)), name);
          } catch (error) {
            failures.push(`${name}: ${(error as Error).message}`);
          }
        }
        // One `btrfs subvolume delete` for many snapshots: a process per snapshot cost ~5 ms of
        // start-up each, the deletion itself a fraction of a millisecond (the kernel cleans up
        // in the background anyway).
        const { deleted, failed } = await this.#index.changing(() =>
          this.ctx.btrfs.deleteSubvolumes([...paths.keys()]),
        );
        const gone = new Set(deleted.map((path) => paths.get(path)));
        for (const { path, error } of failed) {
          // Already gone (a send replaced its marker, another purge got there first): what the
          // purge wanted is done, not a failure.
          if (error instanceof NoSuchPathError) gone.add(paths.get(path));
          else failures.push(`${paths.get(path)}: ${error.message}`);
        }
        const purged = doomed.filter((name) => gone.has(name));
        // What we deleted, by name: Get's count must not wait for a listing of the folder, which
        // queues behind the deletes btrfs still finishes.
        if (purged.length > 0)
          this.#index.patch((index) => withEntries(index, { removed: purged }));
        if (failures.length > 0) {
          throw new PluginError(
            'PURGE_INCOMPLETE',
            `Purge of ${volume} deleted ${purged.length} snapshot(s) but failed on ${failures.length}: ${failures.join('; ')}`,
          );
        }
        return { purged, decisions };
      }),
    );
  }

  /** Forget the cached listing (after another service changed SNAPSHOTS_PATH). */
  invalidate(): void {
    this.#index.invalidate();
  }

  async #freshNames(volumes: readonly VolumeName[]): Promise<SnapshotName[]> {
    // Two snapshots in the same clock tick would collide: wait for the next one. With a
    // seconds-only DTFORMAT that can take up to a second, hence the generous bound.
    for (let attempt = 0; attempt < 2000; attempt++) {
      const now = this.ctx.now();
      const names = volumes.map((volume) =>
        SnapshotName.of(volume, now, { format: this.ctx.dtFormat }),
      );
      // Snapshots of one volume may run at once (they share its lock): a name is reserved
      // here from the moment it is chosen until its snapshot exists or failed.
      const reserved = () => names.some((name) => this.#taking.has(name));
      const onDisk = async () =>
        (await Promise.all(names.map((name) => pathExists(this.ctx.layout.snapshot(name))))).some(
          Boolean,
        );
      if (!reserved() && !(await onDisk()) && !reserved()) {
        for (const name of names) this.#taking.add(name);
        return names;
      }
      await sleep(1);
    }
    throw new PluginError(
      'NO_FREE_NAME',
      `could not find a free snapshot time for ${volumes.join(', ')}`,
    );
  }

  async #freshName(volume: VolumeName): Promise<SnapshotName> {
    return (await this.#freshNames([volume]))[0] as SnapshotName;
  }

  // Names come from a directory listing: parse them before they become a path again.
  #entryName(name: string): SnapshotName | MarkerName {
    const options = { format: this.ctx.dtFormat };
    if (SnapshotName.is(name, options)) return name;
    return MarkerName.parseStored(name, options);
  }

  /** The snapshot (not marker) whose name has the latest time. */
  #newestByName(names: readonly string[]): SnapshotName | undefined {
    let best: { name: string; time: number } | undefined;
    for (const name of names) {
      const parsed = parseSnapshotName(name, this.ctx.dtFormat);
      if (parsed === undefined || parsed.host !== undefined) continue;
      const time = parsed.timestamp.getTime();
      if (!best || time > best.time || (time === best.time && name > best.name)) {
        best = { name, time };
      }
    }
    return best && SnapshotName.parse(best.name, { format: this.ctx.dtFormat });
  }

  #isSnapshot(name: string): boolean {
    const parsed = this.#parse(name);
    return parsed !== undefined && parsed.host === undefined;
  }

  /**
   * parseSnapshotName, remembered per name: a name's meaning never changes, and parsing a
   * volume's 2,000 names again on every Get (its snapshot count) stalled the event loop for
   * every Docker call (bench/docker-calls.ts). #readIndex forgets the names that are gone.
   */
  #parse(name: string): ReturnType<typeof parseSnapshotName> {
    if (this.#parsed.has(name)) return this.#parsed.get(name);
    const parsed = parseSnapshotName(name, this.ctx.dtFormat);
    this.#parsed.set(name, parsed);
    return parsed;
  }

  // Mutations read the folder afresh rather than trusting the cache.
  async #readVolumeEntries(volume: VolumeName): Promise<string[]> {
    const prefix = `${volume}@`;
    return (await readdir(this.ctx.layout.snapshotsPath))
      .filter((n) => n.startsWith(prefix))
      .sort();
  }

  async #readIndex(): Promise<SnapshotIndex> {
    const all = (await readdir(this.ctx.layout.snapshotsPath)).sort();
    // Two passes over every entry (100,000 on a big host): in slices, Docker's calls between.
    // Names not seen before are parsed here, in the background of recent(): a Get that counted
    // 2,000 new snapshots parsed them itself, in one go (or, in slices, waited between them).
    const parsed: ParsedNames = new Map();
    let work = 0;
    for (const name of all) {
      if (this.#parsed.has(name)) {
        parsed.set(name, this.#parsed.get(name));
        work++;
      } else {
        parsed.set(name, parseSnapshotName(name, this.ctx.dtFormat));
        work += INDEX_SLICE / YIELD_EVERY;
      }
      if (work >= INDEX_SLICE) {
        work = 0;
        await yieldToLoop();
      }
    }
    this.#parsed = parsed;
    const byVolume = new Map<string, string[]>();
    for (const [index, name] of all.entries()) {
      if (index % INDEX_SLICE === INDEX_SLICE - 1) await yieldToLoop();
      const at = name.indexOf('@');
      if (at <= 0) continue;
      const volume = name.slice(0, at);
      let list = byVolume.get(volume);
      if (!list) {
        list = [];
        byVolume.set(volume, list);
      }
      list.push(name);
    }
    return { all, byVolume };
  }
}

/**
 * `index` after our own changes, each known by name: a new index (the old one may be in use,
 * and summaries are keyed on it), entries sorted as #readIndex sorts them. No sort of the whole
 * listing (100,000 names): a copy, and a binary search per added name.
 */
function withEntries(
  index: SnapshotIndex,
  change: { added?: readonly string[]; removed?: readonly string[] },
): SnapshotIndex {
  const edit = (
    names: readonly string[],
    added: readonly string[],
    removed: ReadonlySet<string>,
  ) => {
    const edited = names.filter((name) => !removed.has(name));
    for (const name of added) insertSorted(edited, name);
    return edited;
  };
  const added = change.added ?? [];
  const removed = new Set(change.removed);
  const byVolume = new Map(index.byVolume);
  const volumeOfEntry = (name: string) => name.slice(0, name.indexOf('@'));
  for (const volume of new Set([...added, ...removed].map(volumeOfEntry))) {
    const mine = (name: string) => volumeOfEntry(name) === volume;
    const names = edit(index.byVolume.get(volume) ?? [], added.filter(mine), removed);
    if (names.length > 0) byVolume.set(volume, names);
    else byVolume.delete(volume);
  }
  return { all: edit(index.all, added, removed), byVolume };
}

/** Adds `name` to the sorted `names` (code unit order, as Array.sort), unless it is there. */
function insertSorted(names: string[], name: string): void {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((names[middle] as string) < name) low = middle + 1;
    else high = middle;
  }
  if (names[low] !== name) names.splice(low, 0, name);
}

/** Resolves a snapshot name or, for a volume name, that volume's latest snapshot. */
export async function resolveSnapshot(
  snapshots: SnapshotService,
  source: VolumeSource,
): Promise<SnapshotName> {
  if (source.kind === 'snapshot') {
    if (!(await snapshots.exists(source.name))) throw new NoSuchSnapshotError(source.name);
    return source.name;
  }
  const latest = await snapshots.latest(source.name);
  if (latest === undefined)
    throw new NoSuchSnapshotError(source.name, 'the volume has no snapshot to restore');
  return latest;
}
