// The soak: containers started and stopped on buttervolume volumes, a snapshot every second,
// purges, sends to a real host B and the scheduler at TIMER=1, all at once for a while; then
// p50/p99 of each Docker call, the daemon's RSS and open fds at start and end, errors and
// leftovers. Goals: flat RSS and fds (< 10% growth after warm-up), no error, no leftover,
// Docker-call p99 < 50 ms.
//   pnpm bench:soak                      (root, btrfs, dockerd, netns; 10 minutes)
//   BV_SOAK_SECONDS=120 pnpm bench:soak  (any duration)
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { formatSoak, runSoak, soakHostB, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox', 'ssh', 'sshd', 'ip']);

const seconds = Number(process.argv[2] ?? process.env.BV_SOAK_SECONDS ?? 600);
if (!(seconds > 0)) throw new RangeError(`soak duration must be a positive number of seconds`);

const stack = await startStack({ runPathInMemory: true });
try {
  const b = await soakHostB(stack);
  try {
    const report = await runSoak(stack, b, {
      durationMs: seconds * 1000,
      log: (line) => console.log(line),
    });
    console.log(formatSoak(report));
  } finally {
    await b.cleanup();
  }
} finally {
  await stack.cleanup();
}
