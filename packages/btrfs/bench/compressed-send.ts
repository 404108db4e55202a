// Bytes on the wire and time of `btrfs send` for 1 GiB of compressible data in a
// compression=zstd volume: the version 1 stream (what sends use today) against protocol 2 with
// --compressed-data (what they can use when both ends support it). Needs root and btrfs.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createLoopBtrfs, median } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { Btrfs, localStreamVersion, parseProgsVersion, sendProtocolArgs } from '../src/index.js';

const SIZE = 2 ** 30;
const RUNS = 3;

/** Text-like lines from a fixed vocabulary: compresses about 30:1 with zstd, like logs do. */
async function writeCompressible(path: string): Promise<void> {
  let seed = 1;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const words = Array.from({ length: 5000 }, () =>
    Array.from({ length: 3 + random(7) }, () => String.fromCharCode(97 + random(26))).join(''),
  );
  const out = createWriteStream(path);
  let written = 0;
  while (written < SIZE) {
    const line = `${Array.from({ length: 12 }, () => words[random(words.length)]).join(' ')}\n`;
    const block = line.repeat(64);
    written += block.length;
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

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
  await writeCompressible(join(volume, 'data'));
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
