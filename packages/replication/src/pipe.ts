import { readFile } from 'node:fs/promises';
import { fieldsOf, STARTED, signalIfSame } from '@buttervolume/spawner';

/**
 * Bytes the main thread of a process has written so far (`wchar` of
 * /proc/<pid>/task/<pid>/io), or undefined once it is gone. Reading it costs one small file
 * read; nothing is copied through this process. The main thread's own counter, not the whole
 * process's: `btrfs send` runs the send ioctl there, the kernel writing the stream into an
 * internal pipe that a second thread copies to stdout, so the process total counts each byte
 * twice.
 */
export async function bytesWritten(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/io`, 'utf8');
    const match = /^wchar:\s*(\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined; // the process has ended
    throw error;
  }
}

/** The byte count from `dd`'s closing statistics ("1234 bytes (1.2 kB, …) copied, …"). */
export function ddBytes(stderr: string): number | undefined {
  const match = /^(\d+) bytes?\b.*copied/m.exec(stderr);
  return match ? Number(match[1]) : undefined;
}

/** One process of a tree: its pid and start time (to tell it from a later process on its pid). */
export interface TreeProcess {
  pid: number;
  started: string;
  comm: string;
  rchar: number;
}

/**
 * `root` and every process under it, each with what it has read so far (`rchar` of
 * /proc/<pid>/io); processes that end meanwhile are left out. One /proc read per process.
 */
export async function processTree(root: number): Promise<TreeProcess[]> {
  const found: TreeProcess[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    try {
      const [stat, io, children] = await Promise.all([
        readFile(`/proc/${pid}/stat`, 'utf8'),
        readFile(`/proc/${pid}/io`, 'utf8'),
        readFile(`/proc/${pid}/task/${pid}/children`, 'utf8'),
      ]);
      found.push({
        pid,
        started: fieldsOf(stat)[STARTED] ?? '',
        comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        rchar: Number(/^rchar:\s*(\d+)$/m.exec(io)?.[1] ?? 0),
      });
      for (const child of children.trim().split(/\s+/)) if (child) queue.push(Number(child));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH') throw error;
    }
  }
  return found;
}

/** Sends `signal` to each process still the one listed (same pid and start time). */
export async function signalTree(
  processes: readonly TreeProcess[],
  signal: NodeJS.Signals,
): Promise<void> {
  for (const { pid, started } of processes) await signalIfSame(pid, started, signal);
}

/** The shortest interval at which /proc counters are polled. */
export const MIN_POLL_MS = 20;

/** Tracks when data last moved; `check()` calls `stop` once nothing moved for `timeoutMs`. */
export function stallWatch(timeoutMs: number, stop: () => void) {
  let last = performance.now();
  const watch = {
    stalled: false,
    pollMs: Math.max(MIN_POLL_MS, Math.min(1000, timeoutMs / 4)),
    moved() {
      last = performance.now();
    },
    check() {
      if (watch.stalled || performance.now() - last < timeoutMs) return;
      watch.stalled = true;
      stop();
    },
  };
  return watch;
}
