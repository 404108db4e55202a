import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ifPresent, syncDirectory, writeFileAtomic } from '@buttervolume/files';

export interface StateFileOptions {
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

/** The daemon's own state files (private: 0600 when new), through @buttervolume/files. */
export async function writeStateFile(
  path: string,
  text: string,
  options: StateFileOptions = {},
): Promise<void> {
  if (options.makeFolder ?? true) await mkdir(dirname(path), { recursive: true });
  // The daemon's own files in its own folders: no symlink to follow, no mode to keep.
  await writeFileAtomic(path, text, {
    mode: 0o600,
    durable: options.durable ?? true,
    private: true,
  });
}

export async function readJsonOrUndefined(path: string): Promise<unknown> {
  const text = await ifPresent(readFile(path, 'utf8'));
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

export async function removeDurably(path: string): Promise<void> {
  await rm(path, { force: true });
  await syncDirectory(dirname(path));
}

/** Whether anything (file, folder, subvolume, dangling link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  return (await ifPresent(lstat(path))) !== undefined;
}
