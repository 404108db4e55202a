import { type BigIntStats, constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { lstatPaths } from '@buttervolume/spawner';
import { argumentBatches } from './batches.js';
import {
  AlreadyExistsError,
  BtrfsCommandError,
  type CommandFailure,
  NestedSubvolumesError,
  NoSuchPathError,
  NotASubvolumeError,
  NotBtrfsError,
  QuotaDisabledError,
} from './errors.js';
import {
  checkSubvolumes,
  isBtrfs,
  isSubvolume,
  listSubvolumes,
  lstatOrUndefined,
  SubvolumeRoots,
} from './inspect.js';
import { absoluteThrough, mountOf, readMounts } from './mounts.js';
import {
  type FileAttributes,
  parseLsattr,
  parseLsattrBatch,
  parseLsattrNocow,
  parseQgroupShow,
  parseSnapshotList,
  parseSubvolumeList,
  parseSubvolumeShow,
} from './parse.js';
import { resolved } from './paths.js';
import { run, runTolerant } from './run.js';
import { startReceive, startSend } from './streams.js';
import type {
  BtrfsOptions,
  Compression,
  CreateSubvolumeOptions,
  DeleteOptions,
  DeleteSubvolumesResult,
  QuotaInfo,
  ReceiveProcess,
  SendOptions,
  SendProcess,
  SetReadOnlyOptions,
  SnapshotOptions,
  SubvolumeInfo,
  UnchangedCheck,
} from './types.js';

// Paths per `lsattr` process: spawning costs ~3 ms, reading 1,000 flags ~8 ms. The byte budget
// keeps long paths far below ARG_MAX (2 MiB on Linux, arguments and environment together).
const LSATTR_LIMITS = { maxCount: 1000, maxBytes: 256 * 1024 } as const;
// Paths per `btrfs subvolume delete`: one process per path spends ~5 ms starting up, while the
// ioctl itself takes ~0.15 ms (1,000 deletions: 5.5 s one by one, 0.15 s in one process).
const DELETE_LIMITS = { maxCount: 1000, maxBytes: 256 * 1024 } as const;
/**
 * Paths checked at once before a delete (see deleteSubvolumes): few, so that a Docker call's
 * file operation waits behind at most this many in the thread pool.
 */
const CHECK_GROUP = 16;

/** Past any transaction a filesystem will see (one every 30 s for 30,000 years). */
const NO_TRANSACTION_YET = 10 ** 12;
/** Subvolumes whose lasting facts are remembered; past that the memory starts over. */
const MAX_IDENTITIES = 10_000;

/**
 * Typed wrapper over btrfs-progs. Every path is made absolute before it reaches a command, so
 * a name starting with `-` can never be read as an option (`--` is added where btrfs accepts
 * it, too). Preconditions are checked with stat(2) first: the common mistakes fail fast with a
 * precise error instead of a spawned process and a parsed stderr.
 */
export class Btrfs {
  readonly #btrfs: string;
  readonly #chattr: string;
  readonly #lsattr: string;
  /** `subvolume show` answers by subvolume, for the facts that never change (see unchangedSince). */
  readonly #identities = new Map<string, SubvolumeInfo>();
  readonly #roots = new SubvolumeRoots();

  constructor(options: BtrfsOptions = {}) {
    this.#btrfs = options.btrfsPath ?? 'btrfs';
    this.#chattr = options.chattrPath ?? 'chattr';
    this.#lsattr = options.lsattrPath ?? 'lsattr';
  }

  /** Creates an empty subvolume at `path`; its parent folder must exist on a btrfs. */
  async createSubvolume(path: string, options: CreateSubvolumeOptions = {}): Promise<void> {
    const target = resolve(path);
    await this.#requireFreeDestination(target);
    await this.#btrfsRun(['subvolume', 'create', '--', target], target);
    if (!options.nocow) return;
    try {
      // +C only takes effect on files created afterwards, hence on the still empty subvolume.
      await run(this.#chattr, ['+C', '--', target], target);
    } catch (error) {
      // Half-made volumes surprise users later (a CoW database volume): undo, then report.
      try {
        await this.#btrfsRun(['subvolume', 'delete', '--', target], target);
      } catch (undo) {
        // Say it: an empty subvolume without the +C asked for is left at `target`.
        (error as Error).message +=
          `; the new subvolume ${target} could not be removed either (${(undo as Error).message}): remove it by hand`;
      }
      throw error;
    }
  }

  /**
   * Deletes a subvolume or snapshot, read-only ones included. A subvolume holding subvolumes
   * fails with NestedSubvolumesError, unless `recursive`: then those are deleted first, deepest
   * first (read-only holders made writable on the way). Answers the nested subvolumes deleted.
   */
  async deleteSubvolume(path: string, options: DeleteOptions = {}): Promise<string[]> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    try {
      await this.#btrfsRun(['subvolume', 'delete', '--', target], target);
      return [];
    } catch (error) {
      // Listing first would cost every delete a process; nesting is rare.
      if (!(options.recursive && error instanceof NestedSubvolumesError)) throw error;
    }
    const nested = await this.subvolumesBelow(target);
    // A subvolume in a read-only one cannot be unlinked (EROFS): open up every holder first.
    for (const holder of [target, ...nested].filter((p) => nested.some((n) => isInside(n, p)))) {
      if (await this.isReadOnly(holder)) await this.setReadOnly(holder, false, { force: true });
    }
    for (const inner of nested) await this.#btrfsRun(['subvolume', 'delete', '--', inner], inner);
    await this.#btrfsRun(['subvolume', 'delete', '--', target], target);
    return nested;
  }

  /**
   * Every subvolume inside the subvolume or folder `path`, at any depth, deepest first (the
   * order to delete them in), as absolute paths under `path` as given. One process.
   */
  async subvolumesBelow(path: string): Promise<string[]> {
    const target = resolve(path);
    await this.#requireBtrfs(target);
    const stdout = await this.#btrfsRun(['subvolume', 'list', '-a', '--', target], target);
    const below = [...(await this.#seenUnder(target, parseSubvolumeList(stdout)))]
      .map(([seen]) => seen)
      .filter((seen) => seen !== target);
    return below.sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Deletes many subvolumes with one `btrfs subvolume delete` per 1,000 paths. Never throws for
   * a path: each one is either deleted or listed in `failed` with its own error, in the order
   * given. Duplicates count once.
   */
  async deleteSubvolumes(paths: readonly string[]): Promise<DeleteSubvolumesResult> {
    const failed = new Map<string, Error>();
    const targets = new Set<string>();
    const absolute = paths.map(resolved);
    const unique = [...new Set(absolute)];
    // Without mountinfo, every path is asked on its own (as if each were a mount point).
    const mountPoints = await readMounts().then(
      (mounts) => new Set(mounts.map((mount) => mount.mountPoint)),
      () => new Set(unique),
    );
    // The spawner makes the lstat calls (see lstatPaths); should it die meanwhile, this
    // process asks the disk itself.
    const lstats = await lstatPaths(unique).catch(() => undefined);
    const errors = await checkSubvolumes(unique, mountPoints, CHECK_GROUP, lstats);
    for (const [index, target] of unique.entries()) {
      const error = errors[index];
      if (error === undefined) targets.add(target);
      else failed.set(target, error);
    }
    for (const chunk of argumentBatches([...targets], DELETE_LIMITS)) {
      let failure: CommandFailure | Error | undefined;
      try {
        ({ failure } = await runTolerant(this.#btrfs, ['subvolume', 'delete', '--', ...chunk]));
      } catch (error) {
        // The process could not run at all (a missing binary): no retry would do better.
        failure = error as Error;
      }
      if (failure === undefined) continue;
      // btrfs-progs goes on past a path it cannot delete, and its stderr does not always name
      // that path ("Not a Btrfs filesystem" for a mount on top of it): ask the disk which are
      // still there, and give each of those a process of its own for its own error.
      for (const target of chunk) {
        if (!(await lstatOrUndefined(target))) continue;
        if (failure instanceof Error) {
          failed.set(target, failure);
          continue;
        }
        try {
          await this.#btrfsRun(['subvolume', 'delete', '--', target], target);
        } catch (error) {
          failed.set(target, error as Error);
        }
      }
    }
    const result: DeleteSubvolumesResult = { deleted: [], failed: [] };
    const seen = new Set<string>();
    for (const [index, path] of paths.entries()) {
      const target = absolute[index]!;
      if (seen.has(target)) continue;
      seen.add(target);
      const error = failed.get(target);
      if (error === undefined) result.deleted.push(path);
      else result.failed.push({ path, error });
    }
    return result;
  }

  /** Snapshots subvolume `src` as the new subvolume `dst` (which must not exist yet). */
  async snapshot(
    src: string,
    dst: string,
    options: SnapshotOptions = { readonly: false },
  ): Promise<void> {
    const source = resolve(src);
    const target = resolve(dst);
    await this.#requireSubvolume(source);
    // btrfs would put the snapshot *inside* an existing folder named dst: refuse instead.
    await this.#requireFreeDestination(target);
    const flags = options.readonly ? ['-r'] : [];
    await this.#btrfsRun(['subvolume', 'snapshot', ...flags, '--', source, target], target);
  }

  /** True when `path` is a subvolume root. Answers from stat/statfs; spawns no process. */
  isSubvolume(path: string): Promise<boolean> {
    return isSubvolume(resolve(path));
  }

  /**
   * The root's stats when `path` is a subvolume root, else undefined: for paths asked about
   * again and again, one lstat, and statfs only the first time the root is seen (see
   * SubvolumeRoots). Spawns no process.
   */
  subvolumeRoot(path: string): Promise<BigIntStats | undefined> {
    return this.#roots.stats(resolve(path));
  }

  /** Names of `dir`'s direct children that are subvolumes, sorted; plain files/folders skipped. */
  async listSubvolumes(dir: string): Promise<string[]> {
    const target = resolve(dir);
    try {
      return await listSubvolumes(target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NoSuchPathError(target, { cause: error });
      }
      throw error;
    }
  }

  /** What `btrfs subvolume show` says: UUIDs, read-only flag, generation, id. */
  async show(path: string): Promise<SubvolumeInfo> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    const stdout = await this.#btrfsRun(['subvolume', 'show', '--', target], target);
    return parseSubvolumeShow(stdout, target);
  }

  /**
   * Whether the subvolume `volume` is unchanged since the read-only `snapshot` was taken of it,
   * from btrfs's transaction numbers, never from the data (the same cost for 1 KiB or 1 TiB):
   * after a filesystem sync (a write still in the page cache is not in any transaction until
   * then), the volume's generation (the last transaction that touched its tree: data, inodes,
   * names) must be at most the transaction the snapshot was created in, and the snapshot must
   * be one of this volume (its parent UUID is the volume's UUID). Changes inside a nested
   * subvolume do not count: a snapshot does not hold them either.
   *
   * Three short processes at once, whatever the number of subvolumes: `subvolume find-new`
   * syncs the filesystem and prints the volume's generation ("transid marker", its root item;
   * the file list is asked from past any transaction, so it is empty), and `inspect-internal
   * rootid` names the volume and the snapshot. The UUIDs and the snapshot's creation
   * transaction never change for one subvolume, but `subvolume show` walks every subvolume of
   * the filesystem (~40 ms with 2,000): it runs once per subvolume, known again by its id
   * (never reused; a restored volume is a new one). The read-only flag is access(2)'s EROFS.
   */
  async unchangedSince(volume: string, snapshot: string): Promise<UnchangedCheck> {
    const target = resolve(volume);
    const snap = resolve(snapshot);
    await this.#requireSubvolume(target);
    await this.#requireSubvolume(snap);
    const [generation, current, taken, readonly] = await Promise.all([
      this.#syncedGeneration(target),
      this.#lastingFacts(target),
      this.#lastingFacts(snap),
      access(snap, constants.W_OK).then(
        () => false,
        (error: NodeJS.ErrnoException) => error.code === 'EROFS',
      ),
    ]);
    const facts = {
      volumeGeneration: generation,
      snapshotGeneration: taken.generationAtCreation,
    };
    if (taken.parentUuid !== current.uuid) {
      return { unchanged: false, reason: 'not-its-snapshot', ...facts };
    }
    if (!readonly) return { unchanged: false, reason: 'writable-snapshot', ...facts };
    if (generation > taken.generationAtCreation) {
      return { unchanged: false, reason: 'written', ...facts };
    }
    return { unchanged: true, reason: 'unchanged', ...facts };
  }

  /** The subvolume's generation after a sync (find-new runs BTRFS_IOC_SYNC first). */
  async #syncedGeneration(path: string): Promise<number> {
    const stdout = await this.#btrfsRun(
      ['subvolume', 'find-new', '--', path, String(NO_TRANSACTION_YET)],
      path,
    );
    const match = /^transid marker was (\d+)$/m.exec(stdout);
    if (!match) throw new Error(`btrfs subvolume find-new printed no transid marker for ${path}`);
    return Number(match[1]);
  }

  /** `subvolume show` of a subvolume, once per subvolume id (what never changes of it). */
  async #lastingFacts(path: string): Promise<SubvolumeInfo> {
    const [id, stats] = await Promise.all([
      this.#btrfsRun(['inspect-internal', 'rootid', '--', path], path),
      stat(path, { bigint: true }),
    ]);
    // Ids are per filesystem: with the path and the birth time of its root folder, another
    // filesystem mounted at the same place is not taken for this one.
    const key = `${id.trim()}\u0000${stats.birthtimeNs}\u0000${path}`;
    const known = this.#identities.get(key);
    if (known !== undefined) return known;
    const info = await this.show(path);
    if (String(info.id) !== id.trim()) throw new Error(`${path} changed while it was looked at`);
    this.#remember(key, info);
    return info;
  }

  #remember(key: string, info: SubvolumeInfo): void {
    if (this.#identities.size >= MAX_IDENTITIES) this.#identities.clear();
    this.#identities.set(key, info);
  }

  async setReadOnly(
    path: string,
    readonly: boolean,
    options: SetReadOnlyOptions = {},
  ): Promise<void> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    const force = options.force ? ['-f'] : [];
    await this.#btrfsRun(
      ['property', 'set', ...force, '-ts', '--', target, 'ro', String(readonly)],
      target,
    );
  }

  /**
   * Sets the `compression` property of a subvolume's root folder: files created in it afterwards
   * are compressed with that algorithm. Snapshots of it carry the property along.
   */
  async setCompression(path: string, algorithm: Compression): Promise<void> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    await this.#btrfsRun(['property', 'set', '--', target, 'compression', algorithm], target);
  }

  /** The `compression` property of `path` (e.g. `zstd`, `zstd:3`, `none`), undefined when unset. */
  async compression(path: string): Promise<string | undefined> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    const stdout = await this.#btrfsRun(['property', 'get', '--', target, 'compression'], target);
    const match = /^compression=(.*)$/m.exec(stdout);
    return match?.[1] ? match[1] : undefined;
  }

  async isReadOnly(path: string): Promise<boolean> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    const stdout = await this.#btrfsRun(['property', 'get', '-ts', '--', target, 'ro'], target);
    const match = /^ro=(true|false)$/m.exec(stdout);
    if (!match) throw new Error(`unexpected 'btrfs property get' output for ${target}: ${stdout}`);
    return match[1] === 'true';
  }

  /**
   * Streams a read-only snapshot (`btrfs send`), incrementally against `parent` when given.
   * Failures (e.g. a writable snapshot) reject `done`.
   */
  send(snapshot: string, options: SendOptions = {}): SendProcess {
    const parent = options.parent === undefined ? undefined : resolve(options.parent);
    return startSend(this.#btrfs, resolve(snapshot), parent, options.compressedData);
  }

  /** Receives a send stream into the folder `dir`; the new snapshot is read-only. */
  receive(dir: string): ReceiveProcess {
    return startReceive(this.#btrfs, resolve(dir));
  }

  /** Commits the current transaction, so deletions free space and qgroup numbers are current. */
  async syncFilesystem(path: string): Promise<void> {
    const target = resolve(path);
    await this.#btrfsRun(['filesystem', 'sync', '--', target], target);
  }

  /** Enables quotas on the filesystem holding `path` and waits for the initial rescan. */
  async enableQuota(path: string): Promise<void> {
    const target = resolve(path);
    await this.#requireBtrfs(target);
    // `quota enable` rejects `--`; the absolute path cannot be mistaken for an option anyway.
    await this.#btrfsRun(['quota', 'enable', target], target);
    // -W waits for a running rescan without starting a new one: cheap when already enabled.
    await this.#btrfsRun(['quota', 'rescan', '-W', target], target);
  }

  /** Limits the bytes a subvolume may reference; `'none'` removes the limit. */
  async setQuotaLimit(subvolumePath: string, limit: number | 'none'): Promise<void> {
    if (limit !== 'none' && !(Number.isSafeInteger(limit) && limit > 0)) {
      throw new RangeError(
        `quota limit must be a positive whole number of bytes or 'none', got ${limit}`,
      );
    }
    const target = resolve(subvolumePath);
    await this.#requireSubvolume(target);
    await this.#btrfsRun(['qgroup', 'limit', '--', String(limit), target], target);
  }

  /**
   * Usage and limit of the subvolume's own qgroup (0/<id>), or undefined when quotas are off.
   * Numbers are as of the last transaction commit: call syncFilesystem() first for fresh ones.
   */
  async quota(subvolumePath: string): Promise<QuotaInfo | undefined> {
    const target = resolve(subvolumePath);
    await this.#requireSubvolume(target);
    try {
      const stdout = await this.#btrfsRun(
        ['qgroup', 'show', '-re', '--raw', '-f', '--', target],
        target,
      );
      return parseQgroupShow(stdout);
    } catch (error) {
      if (error instanceof QuotaDisabledError) return undefined;
      throw error;
    }
  }

  /** True when `path` has the No_COW attribute (`chattr +C`). */
  async isNocow(path: string): Promise<boolean> {
    const target = resolve(path);
    if (!(await lstatOrUndefined(target))) throw new NoSuchPathError(target);
    return parseLsattrNocow(await run(this.#lsattr, ['-d', '--', target], target));
  }

  /** The No_COW attribute of many paths: fileAttributes' answer, that flag only. */
  async nocowFlags(paths: readonly string[]): Promise<Map<string, boolean>> {
    const answer = new Map<string, boolean>();
    for (const [path, { nocow }] of await this.fileAttributes(paths)) answer.set(path, nocow);
    return answer;
  }

  /**
   * The attributes of many paths, `lsattr -d` on up to 1,000 at a time. Paths that do not
   * exist (e.g. deleted meanwhile) are left out of the answer; any other failure throws.
   * Keys are the paths as given.
   */
  async fileAttributes(paths: readonly string[]): Promise<Map<string, FileAttributes>> {
    const given = new Map<string, string[]>();
    for (const path of paths) {
      const target = resolve(path);
      given.set(target, [...(given.get(target) ?? []), path]);
    }
    // A newline would split lsattr's line in two: such paths get a process of their own.
    const targets = [...given.keys()];
    const lined = targets.filter((target) => !target.includes('\n'));
    const found = new Map<string, FileAttributes>();
    for (const chunk of argumentBatches(lined, LSATTR_LIMITS)) {
      const { stdout, failure } = await runTolerant(this.#lsattr, ['-d', '--', ...chunk]);
      const answers = parseLsattrBatch(stdout);
      for (const target of chunk) {
        const attributes = answers.get(target);
        if (attributes !== undefined) found.set(target, attributes);
      }
      if (failure) this.#tolerateMissing(failure);
    }
    for (const target of targets.filter((t) => t.includes('\n'))) {
      if (!(await lstatOrUndefined(target))) continue;
      found.set(target, parseLsattr(await run(this.#lsattr, ['-d', '--', target], target)));
    }
    const answer = new Map<string, FileAttributes>();
    for (const [target, attributes] of found) {
      for (const path of given.get(target) ?? []) answer.set(path, attributes);
    }
    return answer;
  }

  /**
   * Creation times (otime, to the second) of the snapshots under `path` (itself included), by
   * absolute path: one `btrfs subvolume list -s` for the whole filesystem, however many there
   * are. Subvolumes made from scratch are not listed: their root folder's birth time (statx
   * btime) is their creation time. A snapshot's root folder keeps its source's birth time, so
   * for snapshots (clones, restores) this is the only cheap source of truth.
   */
  async snapshotTimes(path: string): Promise<Map<string, Date>> {
    const target = resolve(path);
    await this.#requireBtrfs(target);
    // TZ=UTC: btrfs-progs prints otime in local time, ambiguous when DST repeats an hour.
    const stdout = await run(this.#btrfs, ['subvolume', 'list', '-a', '-s', '--', target], target, {
      TZ: 'UTC',
    });
    const times = new Map<string, Date>();
    for (const [seen, listed] of await this.#seenUnder(target, parseSnapshotList(stdout))) {
      if (listed.otime !== undefined) times.set(seen, listed.otime);
    }
    return times;
  }

  /**
   * Listed subvolumes at or under `target`, keyed by their path under `target` as the caller
   * wrote it (symlinks and all). Listed paths are filesystem paths: they are mapped through the
   * mount that `target` is on.
   */
  async #seenUnder<T extends { path: string }>(
    target: string,
    listed: readonly T[],
  ): Promise<Map<string, T>> {
    const real = await realpath(target);
    const mount = await mountOf(real);
    if (mount?.fsType !== 'btrfs') throw new NotBtrfsError(target);
    const seenUnder = new Map<string, T>();
    for (const entry of listed) {
      const seen = absoluteThrough(mount, entry.path);
      if (seen === undefined) continue;
      if (seen === real) seenUnder.set(target, entry);
      else if (isInside(seen, real)) {
        seenUnder.set(`${target}${seen.slice(real === '/' ? 0 : real.length)}`, entry);
      }
    }
    return seenUnder;
  }

  /**
   * When the subvolume at `path` was created, to the second (what `btrfs subvolume show` calls
   * its creation time), without `subvolume show`'s walk over every subvolume: the birth time of
   * its root folder, unless it is a snapshot (then one `btrfs subvolume list`). For many
   * subvolumes, call snapshotTimes() once instead.
   */
  async createdAt(path: string): Promise<Date> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    const stats = await stat(target, { bigint: true });
    return (await this.snapshotTimes(target)).get(target) ?? wholeSeconds(stats.birthtimeNs);
  }

  /** A path deleted meanwhile is no failure of the batch; anything else lsattr says is. */
  #tolerateMissing(failure: CommandFailure): void {
    const unexplained = failure.stderr
      .split('\n')
      .filter(
        (line) => line.trim() !== '' && !/No such file or directory|Not a directory/.test(line),
      );
    if (unexplained.length === 0) return;
    // Up to 1,000 paths: the message names the command, stderr names the paths that failed.
    const command = [...failure.command.slice(0, 4), `… (${failure.command.length - 3} paths)`];
    throw new BtrfsCommandError(
      'lsattr failed: see the command and stderr below (is every path on a filesystem with file attributes?)',
      { ...failure, command },
    );
  }

  #btrfsRun(args: readonly string[], path: string): Promise<string> {
    return run(this.#btrfs, args, path);
  }

  async #requireSubvolume(path: string): Promise<void> {
    if (await isSubvolume(path)) return;
    if (!(await lstatOrUndefined(path))) throw new NoSuchPathError(path);
    throw new NotASubvolumeError(path);
  }

  async #requireBtrfs(path: string): Promise<void> {
    if (await isBtrfs(path)) return;
    if (!(await lstatOrUndefined(path))) throw new NoSuchPathError(path);
    throw new NotBtrfsError(path);
  }

  async #requireFreeDestination(path: string): Promise<void> {
    if (await lstatOrUndefined(path)) throw new AlreadyExistsError(path);
    await this.#requireBtrfs(dirname(path));
  }
}

/** True when `path` is strictly inside the folder `dir` (both absolute, normalised). */
function isInside(path: string, dir: string): boolean {
  return path !== dir && path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function depth(path: string): number {
  return path.split('/').length;
}

/** A birth time in nanoseconds to a Date to the second, the precision btrfs shows otime with. */
function wholeSeconds(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000_000n) * 1000);
}
