import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Btrfs } from '@buttervolume/btrfs';
import { VolumeName } from '@buttervolume/names';

// A folder's mtime only moves in clock ticks (a jiffy, up to 4 ms): a listing taken in the same
// tick as a change may miss a second change in that tick. Like git's "racy" index entries, a
// listing is only reused untouched when it was taken well after the folder's last change.
const RACY_WINDOW_NS = 50_000_000n;
// What a name-level refresh cannot see (a plain folder replaced by a subvolume of the same
// name, behind our back) is caught by a full rescan at least this often.
const FULL_RESCAN_MS = 30_000;

/**
 * The volumes in VOLUMES_PATH, kept current at the cost of one readdir. Checking 10,000
 * entries for being subvolumes takes ~50-80 ms of stat/statfs calls; readdir alone ~4 ms. So a
 * changed folder is refreshed by name: only new names are checked, vanished ones dropped.
 */
export class VolumeList {
  #known = new Map<string, boolean>();
  #mtimeNs = -1n;
  #ctimeNs = -1n;
  #takenAtNs = 0n;
  #fullAt = 0;
  #names: VolumeName[] = [];

  constructor(
    private readonly dir: string,
    private readonly btrfs: Pick<Btrfs, 'isSubvolume' | 'listSubvolumes'>,
  ) {}

  async names(): Promise<VolumeName[]> {
    const before = await stat(this.dir, { bigint: true });
    const unchanged = before.mtimeNs === this.#mtimeNs && before.ctimeNs === this.#ctimeNs;
    const full = Date.now() - this.#fullAt > FULL_RESCAN_MS;
    if (unchanged && !full && this.#takenAtNs - before.mtimeNs > RACY_WINDOW_NS) return this.#names;
    const takenAtNs = BigInt(Date.now()) * 1_000_000n;
    if (full) await this.#rescan();
    else await this.#refresh();
    this.#mtimeNs = before.mtimeNs;
    this.#ctimeNs = before.ctimeNs;
    this.#takenAtNs = takenAtNs;
    return this.#names;
  }

  /** We just created, removed or replaced `name`: look at it (and the folder) again. */
  touched(name: string): void {
    this.#known.delete(name);
    this.#mtimeNs = -1n;
  }

  async #rescan(): Promise<void> {
    const volumes = new Set(await this.btrfs.listSubvolumes(this.dir));
    const known = new Map<string, boolean>();
    for (const name of await readdir(this.dir)) known.set(name, volumes.has(name));
    this.#known = known;
    this.#fullAt = Date.now();
    this.#publish();
  }

  async #refresh(): Promise<void> {
    const entries = await readdir(this.dir);
    const known = new Map<string, boolean>();
    const fresh: string[] = [];
    for (const name of entries) {
      const was = this.#known.get(name);
      if (was === undefined) fresh.push(name);
      else known.set(name, was);
    }
    const checks = await Promise.all(
      fresh.map((name) => this.btrfs.isSubvolume(join(this.dir, name))),
    );
    fresh.forEach((name, i) => {
      known.set(name, checks[i] === true);
    });
    this.#known = known;
    this.#publish();
  }

  #publish(): void {
    const names: VolumeName[] = [];
    for (const [name, isVolume] of this.#known)
      if (isVolume && VolumeName.is(name)) names.push(name);
    this.#names = names.sort();
  }
}
