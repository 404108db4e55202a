import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  createHostB,
  type HostB,
  MiB,
  median,
  requireRealEnvironment,
  writeRandom,
} from '@buttervolume/test-utils';
import pMap from 'p-map';
import {
  type Caller,
  createFixture,
  type DaemonProcess,
  daemonEnvOf,
  peerRsyncs,
  readOnlySnapshot,
  spawnDaemon,
} from '../test/integration/helpers.js';
import { CLI, cpuMs, daemonLaunch } from './built.js';

const SEND_MIB = Number(process.env.BENCH_SEND_MIB ?? 1024);
const PURGE = Number(process.env.BENCH_PURGE ?? 2000);
const STALL_SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 15);
const GOAL_MS = 50;
/** Rounds of calls (each call once a round) a scenario needs at least, for a p99 of its own. */
const MIN_ROUNDS = Number(process.env.BENCH_MIN_ROUNDS ?? 200);
/** Rounds made and not measured before the first scenario. */
const WARM_UP_ROUNDS = 20;
/** The purge scenario purges PURGE snapshots again and again until MIN_ROUNDS, at most this often. */
const MAX_PURGES = Number(process.env.BENCH_MAX_PURGES ?? 8);
/** Which of the scenarios below to run: a (send), b (stalled sync), c (purge). */
const SCENARIOS = process.env.BENCH_SCENARIOS ?? 'abc';

requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);

type Samples = Record<string, number[]>;

/**
 * Docker's calls back to back (Mount, Get, Path and Unmount of both volumes, then a List), round
 * after round, until `done` settles and at least `rounds` rounds were made; `samples` gathers
 * across several runs (the purge scenario probes one purge after another).
 */
async function probe(
  call: Caller,
  jobVolume: string,
  done: Promise<unknown>,
  options: { rounds?: number; samples?: Samples } = {},
): Promise<Samples> {
  const samples = options.samples ?? {};
  const rounds = options.rounds ?? 0;
  let over = false;
  const end = () => {
    over = true;
  };
  done.then(end, end);
  const timed = async (label: string, path: string, body: unknown) => {
    const started = performance.now();
    const { json } = await call(path, body);
    const list = samples[label] ?? [];
    list.push(performance.now() - started);
    samples[label] = list;
    if (json.Err !== '') throw new Error(`${label}: ${String(json.Err)}`);
  };
  for (let i = 0; !over || i < rounds; i++) {
    for (const [who, volume] of [
      ['job volume', jobVolume],
      ['other volume', 'probe'],
    ] as const) {
      const id = `bench-${i}-${Math.random().toString(36).slice(2)}`;
      await timed(`Mount (${who})`, '/VolumeDriver.Mount', { Name: volume, ID: id });
      await timed(`Get (${who})`, '/VolumeDriver.Get', { Name: volume });
      await timed(`Path (${who})`, '/VolumeDriver.Path', { Name: volume });
      await timed(`Unmount (${who})`, '/VolumeDriver.Unmount', { Name: volume, ID: id });
    }
    await timed('List', '/VolumeDriver.List', {});
    await sleep(5); // Docker's pace, roughly: the job must not be starved by the probe itself
  }
  await done;
  return samples;
}

const LOOP_DELAY_FILE = join(tmpdir(), `bv-bench-loop-delay-${process.pid}.json`);
const LOOP_DELAY = fileURLToPath(new URL('./loop-delay.ts', import.meta.url));

/**
 * The daemon's event loop delay since the previous report (see loop-delay.ts), or with `keep`
 * / `drop` the stretch since the previous call kept for the next report or forgotten.
 */
async function loopDelay(
  pid: number,
  command: 'report' | 'keep' | 'drop' = 'report',
): Promise<string> {
  await writeFile(`${LOOP_DELAY_FILE}.cmd`, command);
  process.kill(pid, 'SIGUSR2');
  if (command !== 'report') return '';
  for (let attempt = 0; attempt < 100; attempt++) {
    await sleep(20);
    const text = await readFile(LOOP_DELAY_FILE, 'utf8').catch(() => '');
    if (text === '') continue;
    await rm(LOOP_DELAY_FILE, { force: true });
    const figures = JSON.parse(text) as {
      p50: number;
      p99: number;
      max: number;
      rssMiB: number;
      gc: Record<string, { count: number; ms: number; max: number }>;
    };
    const gc = Object.entries(figures.gc)
      .map(([kind, p]) => `${kind} ${p.count}× ${p.ms} ms (max ${p.max})`)
      .join(', ');
    return `daemon event loop delay p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.max} ms; daemon RSS ${figures.rssMiB} MiB\n  GC pauses: ${gc || 'none'}`;
  }
  return 'daemon event loop delay: no answer';
}

let cpuAtLastReport = 0;

function load(): Promise<string> {
  return readFile('/proc/loadavg', 'utf8').then((text) => text.split(' ').slice(0, 3).join(' '));
}

async function report(scenario: string, samples: Samples): Promise<void> {
  console.log(`${scenario}:  (load ${await load()})`);
  for (const [label, values] of Object.entries(samples)) {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
    const p99 = at(0.99);
    console.log(
      `  ${label.padEnd(24)} n=${String(sorted.length).padStart(5)}  p50 ${at(0.5).toFixed(1).padStart(6)} ms  p99 ${p99.toFixed(1).padStart(6)} ms  max ${sorted.at(-1)!.toFixed(1).padStart(7)} ms  ${p99 < GOAL_MS ? 'ok' : `GOAL MISSED (p99 < ${GOAL_MS} ms)`}`,
    );
  }
  if (!daemon) return;
  const cpu = await cpuMs(daemon.pid);
  const calls = Object.values(samples).reduce((sum, values) => sum + values.length, 0);
  console.log(
    `  daemon CPU ${Math.round(cpu - cpuAtLastReport)} ms for ${calls} calls and the job (${((cpu - cpuAtLastReport) / calls).toFixed(2)} ms a call)`,
  );
  cpuAtLastReport = cpu;
  console.log(`  ${await loopDelay(daemon.pid)}`);
}

const fx = await createFixture(SEND_MIB + 1024);
// RUNPATH (mounts.json, written at every Mount and Unmount) in a tmpfs, as /run is on a Docker
// host; BENCH_RUNPATH_ON_DISK=1 keeps it beside the loop image on this machine's disk.
const runPath = process.env.BENCH_RUNPATH_ON_DISK
  ? fx.config.runPath
  : await mkdtemp(join('/dev/shm', 'bv-run-'));
console.log(`RUNPATH ${runPath.startsWith('/dev/shm') ? 'in a tmpfs' : 'on the disk'}`);
// BENCH_DAEMON_BIN=<a CLI's bin.js>: another build's launch line; BENCH_DAEMON_BIN=none: Node's
// defaults (to see what the production flags cost or save).
const launch =
  process.env.BENCH_DAEMON_BIN === 'none'
    ? { env: {}, nodeFlags: [] }
    : await daemonLaunch(process.env.BENCH_DAEMON_BIN ?? CLI);
console.log(
  `daemon launched as: ${Object.entries(launch.env)
    .map(([k, v]) => `${k}=${v} `)
    .join('')}node ${launch.nodeFlags.join(' ')}`,
);
let b: HostB | undefined;
let daemon: DaemonProcess | undefined;
const stopped: number[] = [];
try {
  b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: SEND_MIB + 512 });
  await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
  daemon = await spawnDaemon(
    {
      ...launch.env,
      ...daemonEnvOf(fx),
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      SSH_PORT: String(b.sshPort),
      BUTTERVOLUME_SSH_IDENTITY_FILE: b.identityFile,
      BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: b.knownHostsFile,
      BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
      BENCH_LOOP_DELAY_FILE: LOOP_DELAY_FILE,
      ...(process.env.BENCH_CPU_PROFILE_DIR
        ? { BENCH_CPU_PROFILE_DIR: process.env.BENCH_CPU_PROFILE_DIR }
        : {}),
    },
    { preload: LOOP_DELAY, nodeFlags: launch.nodeFlags },
  );
  const { call } = daemon;
  for (const name of ['probe', 'big', 'synced', 'many']) {
    const { json } = await call('/VolumeDriver.Create', { Name: name });
    if (json.Err !== '') throw new Error(`create ${name}: ${String(json.Err)}`);
  }

  // A daemon's first calls load code (modules imported on first use, compiled by tsx here) and
  // warm V8 up: once per process, long before Docker's calls in production, so not measured.
  await probe(call, 'big', Promise.resolve(), { rounds: WARM_UP_ROUNDS });
  await loopDelay(daemon.pid); // from here on: per scenario
  cpuAtLastReport = await cpuMs(daemon.pid);
  await report('idle (no job)', await probe(call, 'big', sleep(5000), { rounds: MIN_ROUNDS }));

  // (a) A 1 GiB send.
  if (SCENARIOS.includes('a')) {
    await writeRandom(join(fx.volumesPath, 'big', 'data'), SEND_MIB * MiB);
    const snapshot = (await call('/VolumeDriver.Snapshot', { Name: 'big' })).json
      .Snapshot as string;
    const send = call('/VolumeDriver.Snapshot.Send', { Name: snapshot, Host: b.address });
    const sendStarted = performance.now();
    await report(`(a) during a ${SEND_MIB} MiB send to host B`, await probe(call, 'big', send));
    const sent = (await send).json;
    if (sent.Err !== '') throw new Error(`send: ${String(sent.Err)}`);
    console.log(`  (the send took ${((performance.now() - sendStarted) / 1000).toFixed(1)} s)`);
  }

  // (b) A sync from a peer whose rsync is stopped: ssh alive, nothing moves.
  if (SCENARIOS.includes('b')) {
    const onB = join(fx.volumesPath, 'synced');
    await b.exec(['btrfs', 'subvolume', 'create', '--', onB]);
    await b.exec(['dd', 'if=/dev/urandom', `of=${join(onB, 'data')}`, 'bs=1M', 'count=160']);
    const sync = call('/VolumeDriver.Volume.Sync', { Volumes: ['synced'], Hosts: [b.address] });
    let syncOver = false;
    const over = () => {
      syncOver = true;
    };
    sync.then(over, over);
    while (stopped.length === 0 && !syncOver) {
      for (const pid of await peerRsyncs(b)) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
      if (stopped.length === 0) await sleep(5);
    }
    if (syncOver) {
      const ended = (await sync).json;
      throw new Error(`the sync ended before its rsync could be stopped: ${String(ended.Err)}`);
    }
    await report(
      `(b) during a sync from a stalled peer (${STALL_SECONDS} s)`,
      await probe(call, 'synced', sleep(STALL_SECONDS * 1000)),
    );
    for (const pid of stopped.splice(0)) process.kill(pid, 'SIGKILL');
    await sync;
  }

  // (c) Purges of 2,000 snapshots, one after another: one purge lasts about a second, too short
  // for a p99 of its own, so the probe gathers over as many as MIN_ROUNDS needs (only while a
  // purge runs, not while its snapshots are made).
  if (SCENARIOS.includes('c')) {
    const samples: Samples = {};
    const purgeMs: number[] = [];
    let deleted = 0;
    let cpuOfPurges = 0;
    for (let round = 0; round < MAX_PURGES; round++) {
      const names = Array.from(
        { length: PURGE },
        (_, i) =>
          `many@2020-01-01T${String(round).padStart(2, '0')}:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000000`,
      );
      await pMap(
        names,
        (name) => readOnlySnapshot(join(fx.volumesPath, 'many'), join(fx.snapshotsPath, name)),
        { concurrency: 16 },
      );
      // Only the purges in the figures, not the making of their snapshots.
      await loopDelay(daemon.pid, 'drop');
      const cpuBefore = await cpuMs(daemon.pid);
      const purge = call('/VolumeDriver.Snapshots.Purge', { Name: 'many', Pattern: '1h:1d' });
      const purgeStarted = performance.now();
      await probe(call, 'many', purge, { samples });
      purgeMs.push(performance.now() - purgeStarted);
      cpuOfPurges += (await cpuMs(daemon.pid)) - cpuBefore;
      await loopDelay(daemon.pid, 'keep');
      const purged = (await purge).json;
      if (purged.Err !== '') throw new Error(`purge: ${String(purged.Err)}`);
      deleted += (purged.Purged as string[]).length;
      if (Math.min(...Object.values(samples).map((list) => list.length)) >= MIN_ROUNDS) break;
    }
    cpuAtLastReport = (await cpuMs(daemon.pid)) - cpuOfPurges;
    await report(`(c) during ${purgeMs.length} purges of ${PURGE} snapshots`, samples);
    console.log(
      `  (a purge took ${(median(purgeMs) / 1000).toFixed(2)} s (median), ${deleted} deleted in all)`,
    );
  }
} catch (error) {
  console.error(`bench failed; the daemon's log ends:\n${daemon?.stderr().slice(-4000)}`);
  throw error;
} finally {
  for (const pid of stopped) process.kill(pid, 'SIGKILL');
  await daemon?.stop();
  await rm(`${LOOP_DELAY_FILE}.cmd`, { force: true });
  if (runPath !== fx.config.runPath) await rm(runPath, { recursive: true, force: true });
  await b?.cleanup();
  await fx.cleanup();
}
