import { readFile } from 'node:fs/promises';

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
