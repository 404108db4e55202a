import { readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostB, type HostB, processCpuMs } from '@buttervolume/test-utils';
import { execa } from 'execa';
import type { Stack } from './stack.js';

/**
 * The soak: for a while, everything at once on one daemon — containers started and stopped on
 * its volumes, a snapshot every second, purges, sends to a real host B, the scheduler passing
 * every second with its own jobs — then the figures: latency of each Docker call the daemon
 * served, its memory and open files at the start and the end, every error, and what was left
 * behind (mounts, loop devices, partial subvolumes on B).
 */
export interface SoakOptions {
  durationMs: number;
  /** Containers started and stopped concurrently (default 3). */
  workers?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface CallFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ProcessFigures {
  rssKiB: number;
  fds: number;
  /** The daemon's spawner process (@buttervolume/spawner), when it runs. */
  spawner?: { rssKiB: number; fds: number } | undefined;
}

export interface SoakReport {
  durationMs: number;
  /** Daemon-side latency (ms, from its request log) per VolumeDriver endpoint Docker calls. */
  dockerCalls: Record<string, CallFigures>;
  /** `docker run -d` and `docker stop` as the user sees them (ms). */
  dockerCli: Record<string, CallFigures>;
  operations: { containers: number; snapshots: number; purges: number; sends: number };
  /** After the warm-up (a tenth of the run, at least 5 s) and at the end. */
  start: ProcessFigures;
  end: ProcessFigures;
  /** Every failure seen: none is injected, so each one is a defect. */
  /** The daemon from the warm-up to the end: what stalled it, and what the machine ran. */
  daemon: {
    cpuMs: number;
    /** Its event loop delay (ms): calls wait this long before they start, unseen in their ms. */
    loopDelay: { p99: number; max: number };
    /** /proc/loadavg (1, 5, 15 minutes) after the warm-up and at the end. */
    load: { start: string; end: string };
  };
  errors: string[];
  leftovers: { mounts: string[]; loopDevices: string[]; partialOnB: string[] };
}

/** Docker's calls to a volume plugin, as the daemon logs them (see the app's request log). */
const DOCKER_ENDPOINTS = [
  '/VolumeDriver.Create',
  '/VolumeDriver.Get',
  '/VolumeDriver.List',
  '/VolumeDriver.Mount',
  '/VolumeDriver.Path',
  '/VolumeDriver.Unmount',
  '/VolumeDriver.Remove',
  '/VolumeDriver.Capabilities',
];

/** Host B for `stack`, and the daemon restarted to reach it with a 1-second scheduler. */
export async function soakHostB(stack: Stack): Promise<HostB> {
  const b = await createHostB({ paths: [stack.fs.mountPoint], sizeMiB: 400 });
  try {
    await b.exec(['mkdir', '-p', '--', stack.volumesPath, stack.snapshotsPath]);
    Object.assign(stack.daemonEnv, {
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
      BUTTERVOLUME_TIMER: '1',
    });
    await stack.restartDaemon('SIGTERM');
    return b;
  } catch (error) {
    await b.cleanup();
    throw error;
  }
}

export async function runSoak(stack: Stack, b: HostB, options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const workers = options.workers ?? 3;
  const errors: string[] = [];
  const fail = (what: string, detail: string) => {
    errors.push(`${what}: ${detail.trim().split('\n').slice(-3).join(' | ')}`);
  };
  const call = (path: string, body: unknown) => socketCall(stack.socketPath, path, body);
  const ok = async (what: string, path: string, body: unknown) => {
    try {
      const json = await call(path, body);
      if (json.Err !== '') fail(what, String(json.Err));
      return json;
    } catch (error) {
      fail(what, String(error));
      return undefined;
    }
  };
  const docker = async (what: string, args: string[]) => {
    const result = await stack.docker(args);
    if (result.exitCode !== 0) fail(what, result.stderr);
    return result;
  };

  const volumes = Array.from({ length: workers }, (_, i) => `soak-${i}`);
  for (const volume of volumes)
    await docker('volume create', ['volume', 'create', '-d', stack.driver, volume]);
  // The scheduler's own jobs, every minute each, on a 1-second TIMER.
  await writeFile(
    join(stack.runPath, 'schedule.csv'),
    [
      `${volumes[0]},snapshot,1,True`,
      `${volumes[0]},replicate:${b.address},1,True`,
      `${volumes[0]},purge:1m:2m,1,True`,
    ]
      .map((row) => `${row}\r\n`)
      .join(''),
  );

  const started = performance.now();
  const deadline = started + options.durationMs;
  const warmUpMs = Math.max(5000, options.durationMs / 10);
  const cli: Record<string, number[]> = { 'docker run -d': [], 'docker stop': [] };
  const operations = { containers: 0, snapshots: 0, purges: 0, sends: 0 };
  const logStart = (await stack.daemon.logs()).length;

  const containerLoop = async (volume: string) => {
    while (performance.now() < deadline) {
      let t = performance.now();
      // --rm (from runArgs): `docker stop` also removes the container.
      const [verb, ...rest] = stack.runArgs(
        volume,
        'trap "exit 0" TERM; while :; do date >> /data/log; sleep 0.2; done',
      );
      const run = await docker('docker run', [verb!, '-d', ...rest]);
      cli['docker run -d']!.push(performance.now() - t);
      const id = run.stdout.trim();
      if (run.exitCode !== 0 || id === '') continue;
      await sleep(300);
      t = performance.now();
      await docker('docker stop', ['stop', '-t', '5', id]);
      cli['docker stop']!.push(performance.now() - t);
      operations.containers++;
    }
  };
  const every = async (ms: number, fn: (i: number) => Promise<void>) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const next = performance.now() + ms;
      await fn(i);
      await sleep(Math.max(0, Math.min(next, deadline) - performance.now()));
    }
  };
  let start: ProcessFigures | undefined;
  let cpuAtStart = 0;
  let loadAtStart = '';
  const sampler = (async () => {
    await sleep(warmUpMs);
    // The first scrape loads prom-client, whose event loop histogram starts then.
    await loopDelay(stack.socketPath);
    cpuAtStart = await processCpuMs(stack.daemon.pid);
    loadAtStart = await loadAverage();
    start = await processFigures(stack.daemon.pid);
    log(`after warm-up: rss ${start.rssKiB} KiB, ${start.fds} fds`);
  })();

  await Promise.all([
    sampler,
    ...volumes.map(containerLoop),
    every(1000, async (i) => {
      const json = await ok('snapshot', '/VolumeDriver.Snapshot', { Name: volumes[i % workers] });
      if (json) operations.snapshots++;
    }),
    every(10_000, async (i) => {
      const json = await ok('purge', '/VolumeDriver.Snapshots.Purge', {
        Name: volumes[i % workers],
        Pattern: '1m:2m',
      });
      if (json) operations.purges++;
    }),
    every(5000, async (i) => {
      const volume = volumes[1 % workers]!;
      const listed = await ok('list snapshots', '/VolumeDriver.Snapshot.List', { Name: volume });
      const newest = ((listed?.Snapshots as string[] | undefined) ?? [])
        .filter((n) => n.split('@').length === 2)
        .sort()
        .at(-1);
      if (newest === undefined) return;
      const json = await ok('send', '/VolumeDriver.Snapshot.Send', {
        Name: newest,
        Host: b.address,
      });
      if (json) operations.sends++;
      if (i % 6 === 0)
        log(
          `${Math.round((performance.now() - started) / 1000)} s: ${JSON.stringify(operations)}, ${errors.length} errors`,
        );
    }),
  ]);
  const end = await processFigures(stack.daemon.pid);
  const daemon = {
    cpuMs: (await processCpuMs(stack.daemon.pid)) - cpuAtStart,
    loopDelay: await loopDelay(stack.socketPath),
    load: { start: loadAtStart, end: await loadAverage() },
  };
  const durationMs = performance.now() - started;

  // --rm containers are removed (and their volumes unmounted) just after `docker stop`.
  for (let i = 0; i < 300; i++) {
    if ((await stack.docker(['ps', '-aq'])).stdout.trim() === '') break;
    await sleep(100);
  }
  // Containers are gone: nothing of ours may still be mounted, and B holds no partial receive.
  const mounts = [
    ...(await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .filter((line) => line.includes(stack.volumesPath) || line.includes(stack.snapshotsPath)),
    ...(await recordedMounts(stack)),
  ];
  const loopDevices = await strayLoops(stack);
  const partialOnB = await partialSubvolumes(b, stack.snapshotsPath);
  const schedulerLog = (await stack.daemon.logs()).slice(logStart);
  for (const line of schedulerLog.split('\n')) {
    if (line.includes('"scheduled job failed"')) fail('scheduled job', line);
  }

  return {
    durationMs,
    dockerCalls: requestFigures(schedulerLog),
    dockerCli: Object.fromEntries(Object.entries(cli).map(([k, v]) => [k, figures(v)])),
    operations,
    start: start ?? end,
    end,
    daemon,
    errors,
    leftovers: { mounts, loopDevices, partialOnB },
  };
}

/** p50/p99 per Docker endpoint from the daemon's request log lines (`{"msg":"request",…}`). */
function requestFigures(logText: string): Record<string, CallFigures> {
  const byPath = new Map<string, number[]>();
  for (const line of logText.split('\n')) {
    if (!line.includes('"request"')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; path?: string; ms?: number };
      if (entry.msg !== 'request' || entry.path === undefined || typeof entry.ms !== 'number') {
        continue;
      }
      if (!DOCKER_ENDPOINTS.includes(entry.path)) continue;
      const list = byPath.get(entry.path) ?? [];
      list.push(entry.ms);
      byPath.set(entry.path, list);
    } catch {
      // Not a JSON line (a stack trace): not a request.
    }
  }
  return Object.fromEntries([...byPath].sort().map(([path, ms]) => [path, figures(ms)]));
}

export function figures(values: readonly number[]): CallFigures {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

async function processFigures(pid: number): Promise<ProcessFigures> {
  const own = await figuresOf(pid);
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const child of children.split(' ').filter(Boolean)) {
    const argv = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
    if (/spawner\/dist\/child\.js/.test(argv)) {
      return { ...own, spawner: await figuresOf(Number(child)).catch(() => undefined) };
    }
  }
  return own;
}

async function figuresOf(pid: number): Promise<{ rssKiB: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssKiB, fds };
}

/** Loop devices backed by a file in the stack's folder other than its own filesystem image. */
async function strayLoops(stack: Stack): Promise<string[]> {
  const { stdout } = await execa('losetup', ['--list', '--noheadings', '-O', 'NAME,BACK-FILE']);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.includes(stack.fs.dir) && !line.endsWith(stack.fs.image));
}

/** Docker mount IDs the daemon still records although every container is gone. */
async function recordedMounts(stack: Stack): Promise<string[]> {
  const text = await readFile(join(stack.runPath, 'buttervolume', 'mounts.json'), 'utf8').catch(
    () => '{}',
  );
  const recorded: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (Array.isArray(value)) {
      for (const id of value) recorded.push(`${path}: ${String(id)}`);
    } else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
    }
  };
  walk(JSON.parse(text) as unknown, '');
  return recorded;
}

/** Writable subvolumes in B's snapshots folder: what an interrupted receive leaves. */
async function partialSubvolumes(b: HostB, snapshotsPath: string): Promise<string[]> {
  const listing = await b.exec(['ls', '-1', '--', snapshotsPath], { reject: false });
  const partial: string[] = [];
  for (const name of listing.stdout.split('\n').filter(Boolean)) {
    const flags = (await b.showSubvolume(join(snapshotsPath, name)))?.Flags;
    if (flags !== 'readonly') partial.push(name);
  }
  return partial;
}

/** One JSON call to the daemon's socket, as Docker and the CLI make them. */
async function socketCall(
  socketPath: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  return JSON.parse(await socketText(socketPath, path, JSON.stringify(body))) as Record<
    string,
    unknown
  >;
}

/** One POST to the daemon's socket, answering the body as text. */
function socketText(socketPath: string, path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { 'Content-Length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * The daemon's event loop delay (p99, max, in ms) since the previous scrape of its metrics:
 * prom-client's histogram (a 10 ms timer, reset by each scrape), less that timer's tick.
 */
async function loopDelay(socketPath: string): Promise<{ p99: number; max: number }> {
  const text = await socketText(socketPath, '/metrics', '');
  const value = (name: string) => {
    const seconds = Number(new RegExp(`^buttervolume_${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return round(Math.max(0, seconds * 1000 - LOOP_DELAY_TICK_MS));
  };
  return {
    p99: value('nodejs_eventloop_lag_p99_seconds'),
    max: value('nodejs_eventloop_lag_max_seconds'),
  };
}

// prom-client's default eventLoopMonitoringPrecision.
const LOOP_DELAY_TICK_MS = 10;

async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

/** The report as the bench prints it. */
export function formatSoak(report: SoakReport): string {
  const lines = [
    `soak: ${Math.round(report.durationMs / 1000)} s, ${JSON.stringify(report.operations)}`,
    'Docker calls served by the daemon (ms):',
    ...Object.entries(report.dockerCalls).map(
      ([path, f]) =>
        `  ${path.padEnd(28)} n=${String(f.count).padStart(5)}  p50 ${String(f.p50).padStart(6)}  p99 ${String(f.p99).padStart(6)}  max ${String(f.max).padStart(7)}`,
    ),
    'docker CLI as the user sees it (ms):',
    ...Object.entries(report.dockerCli).map(
      ([name, f]) =>
        `  ${name.padEnd(28)} n=${String(f.count).padStart(5)}  p50 ${String(f.p50).padStart(6)}  p99 ${String(f.p99).padStart(6)}  max ${String(f.max).padStart(7)}`,
    ),
    `daemon after the warm-up: CPU ${Math.round(report.daemon.cpuMs)} ms, event loop delay p99 ${report.daemon.loopDelay.p99} ms, max ${report.daemon.loopDelay.max} ms; load ${report.daemon.load.start} -> ${report.daemon.load.end}`,
    `daemon RSS ${report.start.rssKiB} KiB -> ${report.end.rssKiB} KiB (${growth(report.start.rssKiB, report.end.rssKiB)}), open fds ${report.start.fds} -> ${report.end.fds} (${growth(report.start.fds, report.end.fds)})`,
    ...(report.start.spawner && report.end.spawner
      ? [
          `spawner RSS ${report.start.spawner.rssKiB} KiB -> ${report.end.spawner.rssKiB} KiB (${growth(report.start.spawner.rssKiB, report.end.spawner.rssKiB)}), open fds ${report.start.spawner.fds} -> ${report.end.spawner.fds}`,
        ]
      : []),
    `errors: ${report.errors.length}${report.errors.length ? `\n  ${report.errors.slice(0, 20).join('\n  ')}` : ''}`,
    `leftovers: mounts ${report.leftovers.mounts.length}, loop devices ${report.leftovers.loopDevices.length}, partial subvolumes on B ${report.leftovers.partialOnB.length}`,
  ];
  return lines.join('\n');
}

function growth(from: number, to: number): string {
  const pct = from > 0 ? ((to - from) / from) * 100 : 0;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}
