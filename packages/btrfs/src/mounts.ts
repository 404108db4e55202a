// `btrfs subvolume list` names subvolumes by their path inside the filesystem (from the top
// level, subvolid 5), while callers hold paths through a mount that may show only part of it
// (`-o subvol=@`, a bind mount of a folder). The kernel says which part in mountinfo's "root"
// column; this file turns one kind of path into the other.
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';

/** One line of /proc/self/mountinfo, the columns we need. */
export interface MountEntry {
  /** The filesystem's device, `major:minor`: the same for every mount of one filesystem. */
  device: string;
  /** What of the filesystem this mount shows: `/` for the top level, `/@` for `subvol=@`. */
  root: string;
  /** Where it is mounted. */
  mountPoint: string;
  fsType: string;
  /** What is mounted, e.g. `/dev/loop3`. */
  source: string;
  /** The filesystem's own options, e.g. `rw,freezer` for a cgroup v1 freezer hierarchy. */
  superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** Parses /proc/<pid>/mountinfo (proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    // The optional fields end with a lone "-", then fstype, source and super options.
    const separator = fields.indexOf('-', 6);
    const device = fields[2];
    const root = fields[3];
    const mountPoint = fields[4];
    const fsType = separator < 0 ? undefined : fields[separator + 1];
    const source = separator < 0 ? undefined : fields[separator + 2];
    const superOptions = separator < 0 ? undefined : fields[separator + 3];
    if (device === undefined || root === undefined || mountPoint === undefined) continue;
    if (fsType === undefined || source === undefined) continue;
    mounts.push({
      device,
      root: unescapeOctal(root),
      mountPoint: unescapeOctal(mountPoint),
      fsType,
      source: unescapeOctal(source),
      superOptions: superOptions ?? '',
    });
  }
  return mounts;
}

function isWithin(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

/** The mount `path` (absolute, symlinks resolved) is reached through: the deepest, last-mounted. */
export function findMount(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const mount of mounts) {
    // >= : a later mount on the same point hides the earlier one.
    if (
      isWithin(path, mount.mountPoint) &&
      mount.mountPoint.length >= (found?.mountPoint.length ?? 0)
    ) {
      found = mount;
    }
  }
  return found;
}

/**
 * Where a subvolume named `fsPath` (relative to the top level, e.g. `volumes/a`) is seen
 * through `mount`; undefined when the mount does not show that part of the filesystem.
 */
export function absoluteThrough(mount: MountEntry, fsPath: string): string | undefined {
  const inside = `/${fsPath}`;
  if (!isWithin(inside, mount.root)) return undefined;
  const rest = mount.root === '/' ? inside : inside.slice(mount.root.length);
  if (mount.mountPoint === '/') return rest === '' ? '/' : rest;
  return `${mount.mountPoint}${rest}`;
}

/** This process' mounts, in mount order (a later one on the same point hides the earlier). */
export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount of `path` (absolute, symlinks resolved), from this process' mountinfo. */
export async function mountOf(path: string): Promise<MountEntry | undefined> {
  return findMount(await readMounts(), path);
}

/** A mount of a folder (or of something inside it) seen in some mount namespace. */
export interface ForeignMount {
  /** A process of that mount namespace. */
  pid: number;
  /** Where it is mounted, as that namespace sees it. */
  mountPoint: string;
}

/**
 * Every mount of the folder `path` or of anything inside it, in every mount namespace of the
 * machine (a container's bind mount of a volume lives in the container's namespace only), one
 * per namespace and mount point. Reads /proc/<pid>/mountinfo once per namespace; processes
 * that end or cannot be read meanwhile are skipped.
 */
export async function mountsUnder(path: string): Promise<ForeignMount[]> {
  const real = await realpath(path);
  const own = await mountOf(real);
  if (own === undefined) return [];
  // The folder as a path inside its filesystem: what mountinfo's root column shows.
  const rest = own.mountPoint === '/' ? real : real.slice(own.mountPoint.length);
  const inside = own.root === '/' ? rest || '/' : `${own.root}${rest}`;
  const seen = new Set<string>();
  const found: ForeignMount[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      const namespace = await readlink(`/proc/${entry}/ns/mnt`);
      if (seen.has(namespace)) continue;
      seen.add(namespace);
      text = await readFile(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue; // Ended meanwhile, or a kernel thread: no mounts of its own to read.
    }
    for (const mount of parseMountInfo(text)) {
      if (mount.device === own.device && isWithin(mount.root, inside) && inside !== '/') {
        found.push({ pid: Number(entry), mountPoint: mount.mountPoint });
      }
    }
  }
  return found;
}
