import { readdir, readFile } from 'node:fs/promises';

/**
 * Docker has no "kill exec" call: a timed-out hook would run on in its container. Its host pid
 * (exec inspect's Pid) lets us SIGKILL it and its descendants, but only processes whose cgroup
 * names that container: a recycled pid, or a pid from another pid namespace (the managed
 * plugin sees none of the host's), is never touched. Answers how many were killed.
 */
export async function killExecProcesses(pid: number, containerId: string): Promise<number> {
  if (!/^[0-9a-f]{12,64}$/.test(containerId)) return 0;
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(gone(''));
    // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && tree.length < 10_000) {
    const next = queue.shift() as number;
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  let killed = 0;
  for (const target of tree) {
    const cgroup = await readFile(`/proc/${target}/cgroup`, 'utf8').catch(gone(''));
    if (!cgroup.includes(containerId)) continue;
    try {
      process.kill(target, 'SIGKILL');
      killed++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // already gone
    }
  }
  return killed;
}

/** For reads under /proc/<pid>: a process that ended meanwhile reads as `value`. */
function gone<T>(value: T): (error: unknown) => T {
  return (error) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return value;
    throw error;
  };
}
