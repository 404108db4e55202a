// Group snapshots under write load: 5 volumes, each written by its own container (a steady
// load, then a saturating one), snapshotted together again and again. Prints the pause
// (first pause to last unpause, as the daemon measures it; goal < 100 ms) and the whole
// group snapshot (request to answer, hooks included: a trivial pre/post hook per container).
//   pnpm --filter @buttervolume/e2e bench:groups        (root, btrfs, dockerd; about a minute)
import { ButtervolumeClient, type GroupSnapshotResponse } from '@buttervolume/api';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { median, type Stack, startStack, timed } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox']);

const RUNS = Number(process.env.BV_BENCH_RUNS ?? 15);
const VOLUMES = 5;
/** Each writer: 256 KiB every 10 ms (about 25 MB/s each, 5 of them). */
const STEADY =
  'while true; do dd if=/dev/zero of=/data/f bs=64k count=4 2>/dev/null; usleep 10000; done';
/** Each writer: 16 MiB files rewritten without a break (saturates a small machine). */
const SATURATING =
  'while true; do dd if=/dev/zero of=/data/f.tmp bs=64k count=256 2>/dev/null; mv /data/f.tmp /data/f; done';
const LOADS: Array<[string, string]> = [
  ['steady (5 x 25 MB/s)', STEADY],
  ['saturating (5 x 16 MiB loops)', SATURATING],
];

async function bench(stack: Stack) {
  const volumes: string[] = [];
  for (let i = 0; i < VOLUMES; i++) {
    const name = `bench-group-${i}`;
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, name]);
    volumes.push(name);
  }
  const client = new ButtervolumeClient({ socketPath: stack.socketPath });
  const run = async (hooks: boolean) => {
    const { value, ms } = await timed(() =>
      client.groupSnapshot({ Volumes: volumes, Hooks: hooks }),
    );
    const answer = value as GroupSnapshotResponse;
    if (answer.Err) throw new Error(answer.Err);
    return { pause: answer.PauseMs ?? Number.NaN, total: ms };
  };
  console.log(
    `group snapshot of ${VOLUMES} volumes, each written by its own container: median of ${RUNS} runs (ms); pause = first pause to last unpause`,
  );
  for (const [load, script] of LOADS) {
    const writers: string[] = [];
    for (const name of volumes) {
      writers.push(
        await stack.dockerOk([
          'run',
          '-d',
          '--network',
          'none',
          '-v',
          `${name}:/data`,
          '--label',
          'buttervolume.pre-snapshot=["sync"]',
          '--label',
          'buttervolume.post-snapshot=["true"]',
          stack.image,
          'sh',
          '-c',
          script,
        ]),
      );
    }
    // Let the writers fill the page cache with dirty data first.
    await new Promise((r) => setTimeout(r, 2000));
    const logStart = (await stack.daemon.logs()).length;
    await run(true); // warm-up
    for (const hooks of [false, true]) {
      const pauses: number[] = [];
      const totals: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const { pause, total } = await run(hooks);
        pauses.push(pause);
        totals.push(total);
      }
      const name = `${load}, ${hooks ? 'sync hook' : 'no hooks'}`;
      console.log(
        `  ${name.padEnd(42)} pause median ${String(median(pauses)).padStart(7)} (max ${Math.max(...pauses)})   whole group median ${String(median(totals)).padStart(7)} (max ${Math.max(...totals)})`,
      );
    }
    // The daemon logs each pause's phases: freezing the containers, then the snapshots.
    const phases = (await stack.daemon.logs())
      .slice(logStart)
      .split('\n')
      .filter((line) => line.includes('"group paused"'))
      .map(
        (line) =>
          JSON.parse(line) as {
            freezeMs?: number;
            snapshotMs?: number;
            containers: number;
            viaFreezer?: number;
          },
      );
    const of = (key: 'freezeMs' | 'snapshotMs') =>
      median(phases.map((p) => p[key]).filter((v): v is number => typeof v === 'number'));
    console.log(
      `  ${`${load}, inside the pause`.padEnd(42)} freeze (5 containers, ${phases.at(-1)?.viaFreezer ?? 0} through their cgroup freezer, the rest Docker's pause) median ${of('freezeMs')}, 5 snapshots median ${of('snapshotMs')}`,
    );
    await stack.dockerOk(['rm', '-f', ...writers]);
  }
  const single: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    single.push((await timed(() => client.snapshot(volumes[0] as string))).ms);
  }
  console.log(`  ${'one volume, plain snapshot, no load'.padEnd(42)} median ${median(single)}`);
}

const stack = await startStack({ sizeMiB: 2048 });
try {
  await bench(stack);
} finally {
  await stack.cleanup();
}
