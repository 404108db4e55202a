import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  createHostB,
  type HostB,
  MiB,
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
import { cpuMs } from './built.js';

const SEND_MIB = Number(process.env.BENCH_SEND_MIB ?? 1024);
const PURGE = Number(process.env.BENCH_PURGE ?? 2000);
const STALL_SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 15);
const GOAL_MS = 50;
/** Which of the scenarios below to run: a (send), b (stalled sync), c (purge). */
const SCENARIOS = process.env.BENCH_SCENARIOS ?? 'abc';

requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);

type Samples = Record<string, number[]>;

/** Docker's calls back to back (Mount+Unmount and Get on both volumes) until `done` settles. */
async function probe(call: Caller, jobVolume: string, done: Promise<unknown>): Promise<Samples> {
  const samples: Samples = {};
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
  for (let i = 0; !over; i++) {
    for (const [who, volume] of [
      ['job volume', jobVolume],
      ['other volume', 'probe'],
    ] as const) {
      await timed(`Mount (${who})`, '/VolumeDriver.Mount', { Name: volume, ID: `bench-${i}` });
      await timed(`Get (${who})`, '/VolumeDriver.Get', { Name: volume });
      await timed(`Unmount (${who})`, '/VolumeDriver.Unmount', { Name: volume, ID: `bench-${i}` });
    }
    await sleep(5); // Docker's pace, roughly: the job must not be starved by the probe itself
  }
  await done;
  return samples;
}

const LOOP_DELAY_FILE = join(tmpdir(), `bv-bench-loop-delay-${process.pid}.json`);
const LOOP_DELAY = fileURLToPath(new URL('./loop-delay.ts', import.meta.url));

/** The daemon's event loop delay since the previous call (see loop-delay.ts). */
async function loopDelay(pid: number): Promise<string> {
  process.kill(pid, 'SIGUSR2');
  for (let attempt = 0; attempt < 100; attempt++) {
    await sleep(20);
    const text = await readFile(LOOP_DELAY_FILE, 'utf8').catch(() => '');
    if (text === '') continue;
    await rm(LOOP_DELAY_FILE, { force: true });
    const figures = JSON.parse(text) as { p50: number; p99: number; max: number; rssMiB: number };
    return `daemon event loop delay p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.max} ms; daemon RSS ${figures.rssMiB} MiB`;
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
let b: HostB | undefined;
let daemon: DaemonProcess | undefined;
const stopped: number[] = [];
try {
  b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: SEND_MIB + 512 });
  await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
  daemon = await spawnDaemon(
    {
      ...daemonEnvOf(fx),
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
    { preload: LOOP_DELAY },
  );
  const { call } = daemon;
  for (const name of ['probe', 'big', 'synced', 'many']) {
    const { json } = await call('/VolumeDriver.Create', { Name: name });
    if (json.Err !== '') throw new Error(`create ${name}: ${String(json.Err)}`);
  }

  await loopDelay(daemon.pid); // from here on: per scenario
  cpuAtLastReport = await cpuMs(daemon.pid);
  await report('idle (no job)', await probe(call, 'big', sleep(5000)));

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

  // (c) A purge of 2,000 snapshots.
  if (SCENARIOS.includes('c')) {
    const names = Array.from(
      { length: PURGE },
      (_, i) =>
        `many@2020-01-01T00:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000000`,
    );
    await pMap(
      names,
      (name) => readOnlySnapshot(join(fx.volumesPath, 'many'), join(fx.snapshotsPath, name)),
      { concurrency: 16 },
    );
    // Only the purge itself in its figures, not the making of its snapshots.
    await loopDelay(daemon.pid);
    cpuAtLastReport = await cpuMs(daemon.pid);
    const purge = call('/VolumeDriver.Snapshots.Purge', { Name: 'many', Pattern: '1h:1d' });
    const purgeStarted = performance.now();
    await report(`(c) during a purge of ${PURGE} snapshots`, await probe(call, 'many', purge));
    const purged = (await purge).json;
    if (purged.Err !== '') throw new Error(`purge: ${String(purged.Err)}`);
    console.log(
      `  (the purge took ${((performance.now() - purgeStarted) / 1000).toFixed(2)} s, ${(purged.Purged as string[]).length} deleted)`,
    );
  }
} catch (error) {
  console.error(`bench failed; the daemon's log ends:\n${daemon?.stderr().slice(-4000)}`);
  throw error;
} finally {
  for (const pid of stopped) process.kill(pid, 'SIGKILL');
  await daemon?.stop();
  await b?.cleanup();
  await fx.cleanup();
}
