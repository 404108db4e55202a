import { randomBytes } from 'node:crypto';
import { lstat, open, readlink, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits for a new file; an existing file keeps its own. */
  readonly mode?: number;
  /** Test seam: runs after the temp file is synced, before the rename (a crash point). */
  readonly beforeRename?: (tempPath: string) => Promise<void>;
}

/**
 * Replaces a file so that a reader, or the file after a crash, holds either the old content or
 * the new one, never a mix or a truncated file: write a temp file in the same directory, fsync
 * it, rename it over the target, fsync the directory so the rename itself is durable.
 * A symlink at `path` (an operator keeping /etc files in configuration management) stays a
 * link: the content replaces the file it points to.
 */
export async function writeFileAtomic(
  linkOrPath: string,
  data: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const path = await throughLinks(linkOrPath);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = await existingMode(path, options.mode ?? 0o644);
  let renamed = false;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data, 'utf8');
      // The umask may have narrowed the requested mode; the old file's mode is what users expect.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await options.beforeRename?.(temp);
    await rename(temp, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
}

// Linux's own limit on links followed while resolving one path.
const MAX_LINKS = 40;

/** The file a write of `path` must replace: the end of its chain of symlinks (maybe dangling). */
async function throughLinks(path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    try {
      if (!(await lstat(current)).isSymbolicLink()) return current;
    } catch (error) {
      // Nothing there yet: the write creates it, where the last link points.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw error;
    }
    current = resolve(dirname(current), await readlink(current));
  }
  throw Object.assign(new Error(`${path}: more than ${MAX_LINKS} symlinks to follow`), {
    code: 'ELOOP',
  });
}

async function existingMode(path: string, fallback: number): Promise<number> {
  try {
    return (await stat(path)).mode & 0o7777;
  } catch {
    return fallback;
  }
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
