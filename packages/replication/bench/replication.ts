// Replication throughput: Replicator.send to host B (own netns, veth, sshd) next to a local
// `btrfs send | btrfs receive` of the same snapshots (the kernel piping one into the other, as
// a shell would: the fastest a copy of that stream can go on this machine), and what a tiny
// change costs. Medians of BENCH_RUNS runs (default 3) on BENCH_DATA_MIB of random data
// (default 1024). Needs root, btrfs, sshd: `pnpm --filter @buttervolume/replication bench`.
//
// Per send, "stream" is the send | ssh | receive session (bytes / stream time: what the data
// path sustains), "total" the whole call (stream + local listing + marker update), and the
// fixed cost is what a send costs when there is almost nothing to stream.
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { type HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import { startPipeline, startSpawner, stopSpawner } from '@buttervolume/spawner';
import {
  type CpuReport,
  controlHash,
  createHostB,
  createLoopBtrfs,
  type HostB,
  MiB,
  median,
  pipelineProcesses,
  requireRealEnvironment,
  startCpuSampler,
  writeRandom,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { Replicator, type SendResult } from '../src/index.js';

const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 1024);
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const EXTRA_MIB = Math.max(1, Math.round(DATA_MIB / 4));
const btrfs = new Btrfs();
let clock = new Date(2026, 0, 1).getTime();

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const f = (n: number, digits = 0): string => n.toFixed(digits);

/** `btrfs send [-p parent] | btrfs receive into`: the time from spawn to receive's exit. */
async function localSendReceive(snapshot: string, parent: string | undefined, into: string) {
  const started = performance.now();
  const running = startPipeline([
    { file: 'btrfs', args: ['send', '-q', ...(parent ? ['-p', parent] : []), '--', snapshot] },
    { file: 'btrfs', args: ['receive', '--', into] },
  ]);
  const [sent, received] = (await running.done).stages;
  const ms = performance.now() - started;
  if (sent?.exitCode !== 0 || received?.exitCode !== 0) {
    throw new Error(`local send|receive failed: ${sent?.stderr} ${received?.stderr}`);
  }
  return ms;
}

/**
 * Deleted subvolumes are cleaned in the background by btrfs; wait for that (and for dirty
 * data to reach the images) between runs, so one run's clean-up does not eat the next one's CPU.
 */
async function settle(mountPoint: string, b: HostB): Promise<void> {
  await execa('btrfs', ['subvolume', 'sync', '--', mountPoint]);
  await b.exec(['btrfs', 'subvolume', 'sync', '--', mountPoint]);
  await execa('sync');
}

function cpuLine(report: CpuReport, wallMs: number): string {
  const processes = report.byProcess
    .filter((p) => p.ms >= 20)
    .map((p) => `${p.name} ${p.ms}`)
    .join(', ');
  const busy = (report.busyMs / (report.busyMs + report.idleMs)) * 100;
  return `${processes} (CPU ms; wall ${f(wallMs)} ms; machine ${f(busy)}% busy over 2 cores incl. other load)`;
}

async function main(): Promise<void> {
  requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ip', 'nsenter']);
  // Sparse images: A holds the volume, its snapshots and a local copy; B one copy at a time.
  const a = await createLoopBtrfs({ sizeMiB: DATA_MIB * 4 + 1024 });
  const b = await createHostB({ paths: [a.mountPoint], sizeMiB: DATA_MIB * 3 + 1024 });
  let replicator: Replicator | undefined;
  try {
    const snapshotsPath = join(a.mountPoint, 'snapshots');
    const volumesPath = join(a.mountPoint, 'volumes');
    const localReceive = join(a.mountPoint, 'local-receive');
    for (const dir of [snapshotsPath, volumesPath, localReceive]) await mkdir(dir);
    await b.exec(['mkdir', '--', snapshotsPath, volumesPath]);
    const host = b.address as HostName;
    replicator = new Replicator({
      btrfs,
      snapshotsPath,
      volumesPath,
      ssh: {
        ...b.ssh,
        // Long enough to span the whole bench: each send then pays a session, not a handshake.
        controlPersistSec: 600,
      },
    });
    const send = replicator.send.bind(replicator);
    const volume = 'bench' as VolumeName;
    const volumePath = join(volumesPath, volume);
    const here = (name: string) => join(snapshotsPath, name);
    const snap = async (): Promise<SnapshotName> => {
      clock += 60_000;
      const name = SnapshotName.of(volume, new Date(clock));
      await btrfs.snapshot(volumePath, here(name), { readonly: true });
      await btrfs.syncFilesystem(a.mountPoint);
      return name;
    };
    const onB = {
      remove: (name: string) => b.exec(['btrfs', 'subvolume', 'delete', '--', here(name)]),
    };
    /** Puts the markers back as if only `parent` had been sent (undefined: none). */
    const resetMarkers = async (parent: SnapshotName | undefined) => {
      for (const name of await btrfs.listSubvolumes(snapshotsPath)) {
        if (name.endsWith(`@${host}`)) await btrfs.deleteSubvolume(here(name));
      }
      if (parent) await btrfs.snapshot(here(parent), here(`${parent}@${host}`), { readonly: true });
    };

    await btrfs.createSubvolume(volumePath);
    await writeRandom(join(volumePath, 'data'), DATA_MIB * MiB);
    const s1 = await snap();
    await writeRandom(join(volumePath, 'more'), EXTRA_MIB * MiB);
    const s2 = await snap();
    const handle = await open(join(volumePath, 'data'), 'r+');
    await handle.write(Buffer.from('CHANGE'), 0, 6, Math.floor((DATA_MIB * MiB) / 2));
    await handle.close();
    const s3 = await snap();
    // The first read of the snapshots comes from the disk image; later ones from the page cache.
    await localSendReceive(here(s1), undefined, localReceive);
    await btrfs.deleteSubvolume(join(localReceive, s1));
    await send(s1, host); // opens the shared ssh connection, warms B
    await onB.remove(s1);
    await resetMarkers(undefined);
    await settle(a.mountPoint, b);

    const full = { local: [] as number[], ssh: [] as SendResult[] };
    for (let run = 0; run < RUNS; run++) {
      full.local.push(await localSendReceive(here(s1), undefined, localReceive));
      await btrfs.deleteSubvolume(join(localReceive, s1));
      await settle(a.mountPoint, b);
      full.ssh.push(await send(s1, host, { incremental: false }));
      await onB.remove(s1);
      await resetMarkers(undefined);
      await settle(a.mountPoint, b);
    }

    // Incremental s1 → s2: both sides hold s1 (B's copy received, the local one too).
    await send(s1, host);
    await localSendReceive(here(s1), undefined, localReceive);
    await settle(a.mountPoint, b);
    const inc = { local: [] as number[], ssh: [] as SendResult[] };
    for (let run = 0; run < RUNS; run++) {
      inc.local.push(await localSendReceive(here(s2), here(s1), localReceive));
      await btrfs.deleteSubvolume(join(localReceive, s2));
      await settle(a.mountPoint, b);
      const result = await send(s2, host);
      if (!result.incremental) throw new Error('expected an incremental send');
      inc.ssh.push(result);
      await onB.remove(s2);
      await resetMarkers(s1);
      await settle(a.mountPoint, b);
    }

    await btrfs.deleteSubvolume(join(localReceive, s1));

    // Six bytes changed in the middle of the big file (s2 → s3), then the same send again
    // (B has it: the check alone).
    await send(s2, host);
    const tiny: SendResult[] = [];
    const present: SendResult[] = [];
    for (let run = 0; run < RUNS; run++) {
      await settle(a.mountPoint, b);
      tiny.push(await send(s3, host));
      present.push(await send(s3, host));
      await onB.remove(s3);
      await resetMarkers(s2);
    }
    await settle(a.mountPoint, b);

    // Where the CPU goes, in one more run of each full copy (sampling /proc costs CPU too, so
    // these runs are not among the timed ones above).
    // The pipelines' processes are the spawner's children (this process's own, and the
    // Replicator's: one spawner serves both).
    const sampled = await pipelineProcesses(b.netns, controlHash(b.address, b.sshPort), [
      process.pid,
      startSpawner()!,
    ]);
    let sampler = startCpuSampler(sampled);
    let started = performance.now();
    await localSendReceive(here(s1), undefined, localReceive);
    const cpuLocal = { report: await sampler.stop(), ms: performance.now() - started };
    await btrfs.deleteSubvolume(join(localReceive, s1));
    await onB.remove(s1);
    await onB.remove(s2);
    await resetMarkers(undefined);
    await settle(a.mountPoint, b);
    sampler = startCpuSampler(sampled);
    started = performance.now();
    await send(s1, host, { incremental: false });
    const cpuSsh = { report: await sampler.stop(), ms: performance.now() - started };

    // A rate-limited incremental send (the stream then flows through this process).
    await resetMarkers(s1);
    const limit = 100 * MiB;
    const limited = await send(s2, host, { bandwidthLimit: limit });

    const bytesFull = full.ssh[0]?.bytes ?? 0;
    const bytesInc = inc.ssh[0]?.bytes ?? 0;
    const localFull = median(full.local);
    const localInc = median(inc.local);
    const stream = (results: SendResult[]) =>
      median(results.map((r) => r.streamMs ?? r.durationMs));
    const total = (results: SendResult[]) => median(results.map((r) => r.durationMs));
    const rows: [string, number, number, number | undefined][] = [
      ['full, local send|receive', bytesFull, localFull, undefined],
      ['full, to B', bytesFull, stream(full.ssh), total(full.ssh)],
      [`incremental +${EXTRA_MIB} MiB, local`, bytesInc, localInc, undefined],
      [`incremental +${EXTRA_MIB} MiB, to B`, bytesInc, stream(inc.ssh), total(inc.ssh)],
      ['6-byte change, to B', tiny[0]?.bytes ?? 0, stream(tiny), total(tiny)],
      ['already on B (check only)', 0, stream(present), total(present)],
    ];
    console.log(
      `replication bench: ${DATA_MIB} MiB of random data, +${EXTRA_MIB} MiB, then 6 bytes; host B over a veth + sshd; medians of ${RUNS} runs`,
    );
    console.log(
      `${'case'.padEnd(34)} ${'bytes'.padStart(11)} ${'stream ms'.padStart(10)} ${'MB/s'.padStart(6)} ${'total ms'.padStart(9)} ${'MB/s'.padStart(6)}`,
    );
    for (const [name, bytes, streamMs, totalMs] of rows) {
      console.log(
        `${name.padEnd(34)} ${String(bytes).padStart(11)} ${f(streamMs).padStart(10)} ${(bytes > MiB ? f(mbps(bytes, streamMs)) : '').padStart(6)} ${(totalMs === undefined ? '' : f(totalMs)).padStart(9)} ${(totalMs !== undefined && bytes > MiB ? f(mbps(bytes, totalMs)) : '').padStart(6)}`,
      );
    }
    const ratio = (ms: number, reference: number) => f(reference / ms, 2);
    console.log('');
    console.log(
      `ratio to local, full:        stream ${ratio(stream(full.ssh), localFull)}, total ${ratio(total(full.ssh), localFull)}`,
    );
    console.log(
      `ratio to local, incremental: stream ${ratio(stream(inc.ssh), localInc)}, total ${ratio(total(inc.ssh), localInc)}`,
    );
    console.log(
      `fixed cost per send: ${f(total(tiny))} ms for a 6-byte change (${tiny[0]?.bytes} bytes on the wire), ${f(total(present))} ms when B already has it; runs: full ${full.ssh.map((r) => f(r.durationMs)).join('/')} ms, local ${full.local.map((ms) => f(ms)).join('/')} ms`,
    );
    console.log(
      `rate-limited incremental: ${f(mbps(limited.bytes, limited.durationMs), 1)} MB/s for a limit of ${f(limit / 1e6, 1)} MB/s`,
    );
    console.log('');
    console.log(`CPU, full local send|receive: ${cpuLine(cpuLocal.report, cpuLocal.ms)}`);
    console.log(`CPU, full send to B:          ${cpuLine(cpuSsh.report, cpuSsh.ms)}`);
  } finally {
    await replicator?.close();
    stopSpawner();
    await b.cleanup();
    await a.cleanup();
  }
}

await main();
