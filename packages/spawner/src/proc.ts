import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

// A pid alone does not name a process for long: once it ends, the kernel may give its pid to
// another. A pid with its start time (field 22 of /proc/<pid>/stat, in clock ticks since
// boot) does, so every signal sent to a process we did not just reap is checked against it.

/** Index of the start time among statFields(); state is index 0. */
export const STARTED = 19;

/** The fields of a /proc/<pid>/stat text after comm (which may hold spaces and parentheses). */
export function fieldsOf(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function gone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** The fields of /proc/<pid>/stat after comm, or undefined once the process is gone. */
export async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    return fieldsOf(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch (error) {
    if (gone(error)) return undefined;
    throw error;
  }
}

/** The start time of `pid`, read at once (the spawner, right after starting it), if it runs. */
export function startTimeSync(pid: number): string | undefined {
  try {
    return fieldsOf(readFileSync(`/proc/${pid}/stat`, 'utf8'))[STARTED];
  } catch (error) {
    if (gone(error)) return undefined;
    throw error;
  }
}

/** Whether `pid` is still the process that started at `started` (a zombie counts as gone). */
export async function stillRuns(pid: number, started: string): Promise<boolean> {
  const fields = await statFields(pid);
  return fields?.[STARTED] === started && fields[0] !== 'Z';
}

/**
 * Waits until none of `processes` runs any more, polling every `pollMs`, for at most
 * `timeoutMs`; true when they all ended (a signal takes effect soon, not at once).
 */
export async function allEnded(
  processes: readonly { pid: number; started: string }[],
  timeoutMs: number,
  pollMs = 50,
): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    let running = false;
    for (const { pid, started } of processes) running ||= await stillRuns(pid, started);
    if (!running) return true;
    if (performance.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Sends `signal` to `pid` if it is still the process that started at `started`. */
export async function signalIfSame(
  pid: number,
  started: string,
  signal: NodeJS.Signals,
): Promise<boolean> {
  if ((await statFields(pid))?.[STARTED] !== started) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (gone(error)) return false;
    throw error;
  }
}
