// Benchmarks only. Where the CPU goes while a stream runs, without perf: every process's utime+stime from
// /proc/<pid>/stat, sampled while the stream runs (host B's processes live in a netns on this
// same machine, so they show up too), plus the machine-wide busy/idle split from /proc/stat.
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { hostname } from 'node:os';

const TICK_MS = 10; // USER_HZ is 100 on every Linux we run on

export interface Sample {
  pid: number;
  ppid: number;
  /** Network namespace (`net:[inode]`), to pick out host B's processes. */
  netns: string;
  comm: string;
  args: string;
  ticks: number;
}

/**
 * Read once per process image (a zombie's cmdline reads empty): keyed by pid, start time and
 * comm, since `exec` (sh → btrfs receive on B) keeps the pid and changes the comm.
 */
const known = new Map<string, Omit<Sample, 'ticks'>>();

async function readProc(pid: string): Promise<Sample | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces: fields count from the last ')'.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const key = `${pid}:${fields[19]}:${comm}`;
    let fixed = known.get(key);
    if (!fixed) {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
        .split('\0')
        .join(' ')
        .trim();
      fixed = {
        pid: Number(pid),
        ppid: Number(fields[1]),
        netns: await readlink(`/proc/${pid}/ns/net`).catch(() => ''),
        comm,
        args,
      };
      known.set(key, fixed);
    }
    return { ...fixed, ticks };
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, ms) process `pid` has used: what load affects less than latency. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function machine(): Promise<{ busy: number; idle: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [, ...values] = line.trim().split(/\s+/);
  const n = values.map(Number);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, idle };
}

export interface CpuReport {
  /** CPU ms per process group (by short name), busiest first. */
  byProcess: { name: string; ms: number }[];
  /** Machine-wide CPU ms busy (any process, softirq included) and idle during the window. */
  busyMs: number;
  idleMs: number;
}

/** A short name telling the stages apart (ssh client vs mux master, sshd session vs listener). */
function label(sample: Sample): string {
  if (sample.comm === 'ssh' && sample.args.endsWith('[mux]')) return 'ssh (shared master)';
  if (sample.pid === process.pid) return 'node (this bench, sampler included)';
  if (sample.comm === 'btrfs') {
    const verb = /\bbtrfs (send|receive)\b/.exec(sample.args)?.[1];
    return verb ? `btrfs ${verb}` : 'btrfs';
  }
  return sample.comm;
}

/**
 * Starts sampling every `intervalMs`; `stop()` returns the CPU each process used since the
 * start. A process that exits between two samples loses at most one interval of CPU.
 */
export function startCpuSampler(
  interesting: (sample: Sample) => boolean,
  intervalMs = 100,
): { stop(): Promise<CpuReport> } {
  const first = new Map<string, number>();
  const last = new Map<string, Sample>();
  let running = true;
  const scan = async (initial: boolean) => {
    const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
    await Promise.all(
      pids.map(async (pid) => {
        const sample = await readProc(pid);
        if (!sample || !interesting(sample)) return;
        if (initial) first.set(pid, sample.ticks);
        else if (!first.has(pid) && !last.has(pid)) first.set(pid, 0);
        last.set(pid, sample);
      }),
    );
  };
  const start = machine();
  const initial = scan(true);
  const loop = (async () => {
    await initial;
    while (running) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      await scan(false);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await scan(false);
      const [before, after] = [await start, await machine()];
      const groups = new Map<string, number>();
      for (const [pid, sample] of last) {
        const ms = (sample.ticks - (first.get(pid) ?? 0)) * TICK_MS;
        if (ms <= 0) continue;
        const name = label(sample);
        groups.set(name, (groups.get(name) ?? 0) + ms);
      }
      return {
        byProcess: [...groups].map(([name, ms]) => ({ name, ms })).sort((x, y) => y.ms - x.ms),
        busyMs: (after.busy - before.busy) * TICK_MS,
        idleMs: (after.idle - before.idle) * TICK_MS,
      };
    },
  };
}

/**
 * The processes of one replication pipeline: the `senders` (default: this process) and their
 * children, every process in host B's network namespace, and the shared ssh master
 * (daemonised; its title names its control socket, `<dir>/%C`, so `controlSocket` is that %C
 * hash or the whole path). Other work on the same machine is left out.
 */
export async function pipelineProcesses(
  hostBNetns: string,
  controlSocket: string,
  senders: readonly number[] = [process.pid],
): Promise<(sample: Sample) => boolean> {
  const netnsB = `net:[${(await stat(`/run/netns/${hostBNetns}`)).ino}]`;
  return (sample) =>
    senders.includes(sample.pid) ||
    senders.includes(sample.ppid) ||
    sample.netns === netnsB ||
    (sample.comm === 'ssh' && sample.args.includes(controlSocket));
}

/** ssh's `%C` for root@host:port from this machine (the control socket's file name). */
export function controlHash(host: string, port: number, user = 'root'): string {
  return createHash('sha1').update(`${hostname()}${host}${port}${user}`).digest('hex');
}
