// How long Docker takes with the buttervolume driver, next to Docker's own local driver:
// `docker volume create`, `docker run -v` (a container that exits at once) and `docker volume ls`.
//   pnpm --filter @buttervolume/e2e bench            (root, btrfs, dockerd; a few seconds)
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { median, type Stack, startStack, timed } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox']);

const RUNS = Number(process.env.BV_BENCH_RUNS ?? 7);

async function measure(runs: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  // One unmeasured warm-up: the first call pays for plugin activation and page cache.
  await fn(-1);
  for (let i = 0; i < runs; i++) times.push((await timed(() => fn(i))).ms);
  return times;
}

async function bench(stack: Stack) {
  const ok = async (args: string[]) => {
    await stack.docker(args, { reject: true });
  };
  const run = (volume: string) =>
    ok(['run', '--rm', '--network', 'none', '-v', `${volume}:/data`, stack.image, 'true']);
  const rows: Array<[string, number[]]> = [
    [
      'volume create (buttervolume)',
      await measure(RUNS, (i) => ok(['volume', 'create', '-d', stack.driver, `bench-bv-${i + 1}`])),
    ],
    [
      'volume create (local)',
      await measure(RUNS, (i) => ok(['volume', 'create', `bench-local-${i + 1}`])),
    ],
    ['run -v (buttervolume)', await measure(RUNS, () => run('bench-bv-0'))],
    ['run -v (local)', await measure(RUNS, () => run('bench-local-0'))],
    [
      'run, no volume',
      await measure(RUNS, () => ok(['run', '--rm', '--network', 'none', stack.image, 'true'])),
    ],
    ['volume ls (all)', await measure(RUNS, () => ok(['volume', 'ls']))],
    [
      'volume ls (driver filter)',
      await measure(RUNS, () => ok(['volume', 'ls', '--filter', `driver=${stack.driver}`])),
    ],
  ];
  const volumes = (await stack.docker(['volume', 'ls', '-q'], { reject: true })).stdout
    .trim()
    .split('\n').length;
  console.log(
    `docker with buttervolume: median of ${RUNS} runs (ms), ${volumes} volumes listed, storage driver ${stack.dockerd.storageDriver}`,
  );
  for (const [name, times] of rows) {
    console.log(
      `  ${name.padEnd(30)} median ${String(median(times)).padStart(7)}  (min ${Math.min(...times)}, max ${Math.max(...times)})`,
    );
  }
}

const stack = await startStack();
try {
  await bench(stack);
} finally {
  await stack.cleanup();
}
