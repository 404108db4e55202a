// `btrfs subvolume list` names subvolumes by their path inside the filesystem (from the top
// level, subvolid 5), while callers hold paths through a mount that may show only part of it
// (`-o subvol=@`, a bind mount of a folder). The kernel says which part in mountinfo's "root"
// column; this file turns one kind of path into the other.
import { readFile } from 'node:fs/promises';

/** One line of /proc/self/mountinfo, the columns we need. */
export interface MountEntry {
  /** What of the filesystem this mount shows: `/` for the top level, `/@` for `subvol=@`. */
  root: string;
  /** Where it is mounted. */
  mountPoint: string;
  fsType: string;
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
    const root = fields[3];
    const mountPoint = fields[4];
    const fsType = separator < 0 ? undefined : fields[separator + 1];
    if (root === undefined || mountPoint === undefined || fsType === undefined) continue;
    mounts.push({ root: unescapeOctal(root), mountPoint: unescapeOctal(mountPoint), fsType });
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

/** The mount of `path` (absolute, symlinks resolved), from this process' mountinfo. */
export async function mountOf(path: string): Promise<MountEntry | undefined> {
  return findMount(parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')), path);
}
