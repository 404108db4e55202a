// The data path alone, no Replicator around it: one snapshot (BENCH_DATA_MIB, default 1024)
// through raw pipelines, to see what each stage and each ssh setting costs. Medians of
// BENCH_RUNS timed runs, then one run sampled for per-process CPU (the sampler costs CPU, so
// it stays out of the timed ones). `ONLY=gcm,local` picks variants by name.
// `pnpm --filter @buttervolume/replication bench:pipelines`
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import {
  type PipelineStage,
  startPipeline,
  startSpawner,
  stopSpawner,
} from '@buttervolume/spawner';
import {
  createHostB,
  createLoopBtrfs,
  MiB,
  pipelineProcesses,
  requireRealEnvironment,
  startCpuSampler,
  writeRandom,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { receiveCommand } from '../src/remote.js';
import { sshArgv, sshSettings, withControlMaster } from '../src/ssh.js';

const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 1024);
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const btrfs = new Btrfs();

async function main() {
  requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'dd', 'ip', 'nsenter']);
  const a = await createLoopBtrfs({ sizeMiB: DATA_MIB * 3 + 1024 });
  const b = await createHostB({ paths: [a.mountPoint], sizeMiB: DATA_MIB * 2 + 1024 });
  const control = await mkdtemp(join(tmpdir(), 'bv-probe-'));
  try {
    const snaps = join(a.mountPoint, 'snapshots');
    const localRecv = join(a.mountPoint, 'local-receive');
    await mkdir(snaps);
    await mkdir(localRecv);
    await b.exec(['mkdir', '--', snaps]);
    const vol = join(a.mountPoint, 'vol');
    await btrfs.createSubvolume(vol);
    await writeRandom(join(vol, 'data'), DATA_MIB * MiB);
    const snap = join(snaps, 'vol@1');
    await btrfs.snapshot(vol, snap, { readonly: true });
    await btrfs.syncFilesystem(a.mountPoint);
    const base = b.ssh;
    const variants: Record<string, () => PipelineStage[]> = {};
    const send: PipelineStage = { file: 'btrfs', args: ['send', '-q', '--', snap] };
    const dd: PipelineStage = { file: 'dd', args: ['bs=1M'] };
    const receive: PipelineStage = { file: 'btrfs', args: ['receive', '--', localRecv] };
    variants['local send|receive'] = () => [send, receive];
    variants['local send|dd|receive'] = () => [send, dd, receive];
    const sshStage = (
      options: object,
      mux: boolean,
      extra: string[] = [],
      remote = ['btrfs', 'receive', '--', snaps],
    ): PipelineStage => {
      let settings = sshSettings({ ...base, ...options });
      if (mux) settings = withControlMaster(settings, control);
      const argv = sshArgv(settings, b.address, remote);
      return { file: 'ssh', args: [...extra, ...argv] };
    };
    const gcm = { extraOptions: ['Ciphers=aes128-gcm@openssh.com'] };
    const chacha = { extraOptions: ['Ciphers=chacha20-poly1305@openssh.com'] };
    variants['ssh mux gcm dd'] = () => [send, dd, sshStage(gcm, true)];
    // What Replicator.send runs: the count taken on B (see RECEIVE_SCRIPT).
    variants['ssh mux gcm, dd on B'] = () => [
      send,
      sshStage(gcm, true, [], receiveCommand('btrfs', join(snaps, 'vol@1'), snaps)),
    ];
    variants['ssh mux gcm'] = () => [send, sshStage(gcm, true)];
    variants['ssh mux chacha'] = () => [send, sshStage(chacha, true)];
    variants['ssh new connection gcm'] = () => [send, sshStage(gcm, false)];
    variants['ssh new connection gcm IPQoS=throughput'] = () => [
      send,
      sshStage({ extraOptions: ['Ciphers=aes128-gcm@openssh.com', 'IPQoS=throughput'] }, false),
    ];
    const only = process.env.ONLY?.split(',');
    for (const [name, stages] of Object.entries(variants)) {
      if (only && !only.some((o) => name.includes(o))) continue;
      const times: number[] = [];
      let cpuText = '';
      // Run 0 warms the page cache and the shared connection; the last one is sampled.
      for (let run = 0; run < RUNS + 2; run++) {
        await startPipeline([sshStage(gcm, true)]).done;
        const sampled = run === RUNS + 1;
        const sampler = sampled
          ? startCpuSampler(
              // The stages are the spawner's children.
              await pipelineProcesses(b.netns, control, [process.pid, startSpawner()!]),
            )
          : undefined;
        const started = performance.now();
        const exits = (await startPipeline(stages(), { env: { LC_ALL: 'C' } }).done).stages;
        const ms = performance.now() - started;
        const cpu = await sampler?.stop();
        if (exits.some((e) => e.exitCode !== 0))
          throw new Error(`${name}: ${exits.map((e) => `${e.exitCode} ${e.stderr}`).join(' | ')}`);
        if (run > 0 && !sampled) times.push(ms);
        if (cpu) {
          cpuText = `${cpu.byProcess
            .filter((p) => p.ms >= 30)
            .map((p) => `${p.name} ${p.ms}`)
            .join(', ')}; machine busy ${cpu.busyMs} idle ${cpu.idleMs}`;
        }
        if (name.startsWith('local')) await btrfs.deleteSubvolume(join(localRecv, 'vol@1'));
        else await b.exec(['btrfs', 'subvolume', 'delete', '--', join(snaps, 'vol@1')]);
        await execa('btrfs', ['subvolume', 'sync', '--', a.mountPoint]);
        await b.exec(['btrfs', 'subvolume', 'sync', '--', a.mountPoint]);
        await execa('sync');
      }
      times.sort((x, y) => x - y);
      const med = times[Math.floor(times.length / 2)] ?? 0;
      console.log(
        `${name.padEnd(24)} median ${med.toFixed(0)} ms ${((DATA_MIB * MiB) / 1e6 / (med / 1000)).toFixed(0)} MB/s [${times.map((t) => t.toFixed(0)).join(', ')}]  CPU ms: ${cpuText}`,
      );
    }
  } finally {
    await execa(
      'ssh',
      [
        '-o',
        `ControlPath=${control}/%C`,
        '-p',
        String(b.sshPort),
        '-O',
        'exit',
        '-l',
        'root',
        '--',
        b.address,
      ],
      { reject: false },
    );
    await rm(control, { recursive: true, force: true });
    stopSpawner();
    await b.cleanup();
    await a.cleanup();
  }
}
await main();
