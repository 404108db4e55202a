// Bytes on the wire and time of `btrfs send` for 1 GiB of compressible data in a
// compression=zstd volume: the version 1 stream (what sends use today) against protocol 2 with
// --compressed-data (what they can use when both ends support it). Needs root and btrfs.
import { join } from 'node:path';
import { createLoopBtrfs, median, writeCompressible } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { Btrfs, localStreamVersion, parseProgsVersion, sendProtocolArgs } from '../src/index.js';

const SIZE = 2 ** 30;
const RUNS = 3;

async function measure(
  snapshot: string,
  args: readonly string[],
): Promise<{ bytes: number; ms: number }> {
  const start = performance.now();
  const send = execa('btrfs', ['send', '-q', ...args, '--', snapshot], {
    buffer: false,
    stdout: 'pipe',
  });
  let bytes = 0;
  for await (const chunk of send.stdout!) bytes += (chunk as Buffer).length;
  await send;
  return { bytes, ms: performance.now() - start };
}

const fs = await createLoopBtrfs({ sizeMiB: 4096 });
try {
  const btrfs = new Btrfs();
  const progs = parseProgsVersion((await execa('btrfs', ['--version'])).stdout);
  const local = { progs, streamVersion: await localStreamVersion() };
  console.log(
    `btrfs-progs ${progs?.join('.') ?? 'unknown'}, kernel send stream version ${local.streamVersion}`,
  );
  const volume = join(fs.mountPoint, 'vol');
  await btrfs.createSubvolume(volume);
  await btrfs.setCompression(volume, 'zstd');
  await writeCompressible(join(volume, 'data'), SIZE);
  const snapshot = join(fs.mountPoint, 'snap');
  await btrfs.snapshot(volume, snapshot, { readonly: true });
  const v2 = sendProtocolArgs(local, progs);
  for (const [label, args] of [
    ['version 1 stream', []],
    ['protocol 2 --compressed-data', v2],
  ] as const) {
    if (args.length === 0 && label !== 'version 1 stream') {
      console.log(`${label}: not available on this machine`);
      continue;
    }
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(snapshot, args));
    const bytes = runs[0]!.bytes;
    console.log(
      `${label}: ${bytes} bytes on the wire (${(bytes / SIZE).toFixed(3)} of the data), median ${median(runs.map((r) => r.ms)).toFixed(0)} ms over ${RUNS} runs`,
    );
  }
} finally {
  await fs.cleanup();
}
