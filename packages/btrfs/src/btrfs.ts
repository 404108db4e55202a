import { dirname, resolve } from 'node:path';
import {
  AlreadyExistsError,
  NoSuchPathError,
  NotASubvolumeError,
  NotBtrfsError,
  QuotaDisabledError,
} from './errors.js';
import { isBtrfs, isSubvolume, listSubvolumes, lstatOrUndefined } from './inspect.js';
import { parseLsattrNocow, parseQgroupShow, parseSubvolumeShow } from './parse.js';
import { run } from './run.js';
import { startReceive, startSend } from './streams.js';
import type {
  BtrfsOptions,
  CreateSubvolumeOptions,
  QuotaInfo,
  ReceiveProcess,
  SendOptions,
  SendProcess,
  SetReadOnlyOptions,
  SnapshotOptions,
  SubvolumeInfo,
} from './types.js';

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
      await this.#btrfsRun(['subvolume', 'delete', '--', target], target).catch(() => {});
      throw error;
    }
  }

  /** Deletes a subvolume or snapshot, read-only ones included. */
  async deleteSubvolume(path: string): Promise<void> {
    const target = resolve(path);
    await this.#requireSubvolume(target);
    await this.#btrfsRun(['subvolume', 'delete', '--', target], target);
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
    return startSend(this.#btrfs, resolve(snapshot), parent);
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
