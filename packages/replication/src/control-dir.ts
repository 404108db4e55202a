import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Named after the process that made it, so a later process can tell a folder left by one
// that was killed (kill -9, OOM: no close() ran) from one in use, and remove it.
const PREFIX = 'bv-ssh-';
const OURS = /^bv-ssh-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * A private (0700) folder for ssh's shared-connection sockets, after removing the folders of
 * processes that no longer run. Short on purpose: a socket path must fit 107 bytes, and ssh
 * adds the 40-character connection hash and a temporary suffix to it.
 */
export async function makeControlDir(base = tmpdir()): Promise<string> {
  await removeStaleControlDirs(base);
  return mkdtemp(join(base, `${PREFIX}${process.pid}-`));
}

/** Removes this user's control folders whose process is gone; the names it removed. */
export async function removeStaleControlDirs(base: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(base);
  } catch {
    return removed; // no listing, no sweep: making the folder will say what is wrong
  }
  const uid = process.getuid?.();
  for (const entry of entries) {
    const pid = OURS.exec(entry)?.[1];
    if (pid === undefined || isRunning(Number(pid))) continue;
    const path = join(base, entry);
    const stats = await lstat(path).catch(() => undefined);
    // Only real folders of ours: never a link, never another user's.
    if (!stats?.isDirectory() || (uid !== undefined && stats.uid !== uid)) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

function isRunning(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true; // not ours to judge: keep it
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
