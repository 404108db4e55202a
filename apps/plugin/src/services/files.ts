import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Flushes a directory entry change (create, rename, unlink) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface AtomicWriteOptions {
  mode?: number;
  /**
   * Whether the new content must survive a power cut (fsync of the file and the folder, the
   * default). Without it the write still survives a crash of the daemon, never torn (the
   * kernel holds the data; the rename is atomic), and costs no disk flush: for state that a
   * reboot makes moot anyway (Docker's mount IDs, whose containers a power cut ends).
   */
  durable?: boolean;
  /** Whether to make the folder first (default); a caller that made it once saves a syscall. */
  makeFolder?: boolean;
}

/**
 * Replaces `path` with `text` so that a crash at any point leaves either the old or the new
 * content, never a torn file: write a temp file beside it, fsync, rename, fsync the folder.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const durable = options.durable ?? true;
  const dir = dirname(path);
  if (options.makeFolder ?? true) await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'w', options.mode ?? 0o600);
    try {
      await handle.writeFile(text);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (durable) await fsyncDir(dir);
}

export async function readJsonOrUndefined(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as unknown;
}

export async function removeDurably(path: string): Promise<void> {
  await rm(path, { force: true });
  await fsyncDir(dirname(path));
}

/** Whether anything (file, folder, subvolume, dangling link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
