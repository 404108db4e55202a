// Retention on the receiving host: Replicator.purgeRemote over B's copies of one volume (BENCH_COPIES,
// default 1000, one every 5 minutes), a dry run (one ssh session: the listing) and then the
// purge itself (one more session: the deletion and the listing after it), with a policy that
// keeps a few dozen. Medians of BENCH_RUNS dry runs (default 5). Needs root, btrfs, sshd:
// `pnpm --filter @buttervolume/replication bench:remote-purge`.

import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { SnapshotName, type VolumeName } from '@buttervolume/names';
import { parsePolicy } from '@buttervolume/retention';
import { median, requireRealEnvironment } from '@buttervolume/test-utils';
import { Replicator } from '../src/index.js';
import { twoHosts } from '../test/integration/support.js';

const COPIES = Math.max(1, Number(process.env.BENCH_COPIES ?? 1000));
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const POLICY = parsePolicy('hourly=24,daily=7');

requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ip', 'nsenter', 'xargs']);
const { a, b, snapshotsPath, volumesPath, host } = await twoHosts({ aMiB: 256, bMiB: 512 });
try {
  const volume = 'bench' as VolumeName;
  const now = new Date(2026, 0, 10, 12, 0, 0);
  const names = Array.from({ length: COPIES }, (_, k) =>
    SnapshotName.of(volume, new Date(now.getTime() - k * 300_000)),
  );
  // Empty subvolumes stand for received copies: the purge only lists and deletes them.
  await b.exec(['xargs', '-0', '-n', '1', 'btrfs', 'subvolume', 'create'], {
    input: `${names.map((n) => join(snapshotsPath, n)).join('\0')}\0`,
  });
  const replicator = new Replicator({ btrfs: new Btrfs(), snapshotsPath, volumesPath, ssh: b.ssh });
  try {
    const dry: number[] = [];
    let doomed = 0;
    for (let i = 0; i < RUNS; i++) {
      const result = await replicator.purgeRemote(volume, host, POLICY, { dryRun: true, now });
      dry.push(result.durationMs);
      doomed = result.purged.length;
    }
    const cpu = process.cpuUsage();
    const done = await replicator.purgeRemote(volume, host, POLICY, { now });
    const used = process.cpuUsage(cpu);
    if (done.purged.length !== doomed)
      throw new Error('the purge deleted other copies than the dry run named');
    console.log(
      `purge of ${COPIES} copies on host B (policy ${POLICY.text}): dry run median ${median(dry).toFixed(0)} ms over ${RUNS} runs; ` +
        `purge deleting ${done.purged.length} ${done.durationMs.toFixed(0)} ms (this process's CPU ${((used.user + used.system) / 1000).toFixed(0)} ms); load ${loadavg()[0]!.toFixed(1)}`,
    );
  } finally {
    await replicator.close();
  }
} finally {
  await b.cleanup();
  await a.cleanup();
}
