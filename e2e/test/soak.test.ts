import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostB } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSoak, type SoakReport, soakHostB, startStack } from '../src/index.js';
import type { Stack } from '../src/stack.js';

// The soak's short version: correctness only (no error, nothing left behind, bounded growth);
// its latency figures are the bench's (`pnpm bench:soak`).
describe('a 60-second soak: containers, snapshots, purges, sends and the scheduler at once', () => {
  let stack: Stack;
  let b: HostB;
  let report: SoakReport;

  beforeAll(async () => {
    stack = await startStack();
    b = await soakHostB(stack);
  });
  afterAll(async () => {
    await b?.cleanup();
    await stack?.cleanup();
  });

  it('has no error, leaves nothing behind, and the daemon does not grow without bound', async () => {
    report = await runSoak(stack, b, { durationMs: 60_000, workers: 2 });
    expect(report.errors).toEqual([]);
    expect(report.leftovers).toEqual({ mounts: [], loopDevices: [], partialOnB: [] });
    expect(report.operations.containers).toBeGreaterThan(0);
    expect(report.operations.snapshots).toBeGreaterThan(0);
    expect(report.operations.sends).toBeGreaterThan(0);
    expect(report.operations.purges).toBeGreaterThan(0);
    // Generous on purpose (a minute is short and the machine shared): a leak shows as more.
    expect(report.end.fds).toBeLessThanOrEqual(report.start.fds + 20);
    expect(report.end.rssKiB).toBeLessThan(report.start.rssKiB * 2);
  }, 300_000);

  // The fault suite's live writer: a container appends a counter to its volume while the
  // volume is snapshotted, sent to B and purged; afterwards every copy holds a clean prefix
  // of what the container wrote, and the volume all of it.
  it('a container writing while snapshot, send and purge run on its volume loses nothing', async () => {
    const volume = 'writer';
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, volume]);
    // Old snapshots for the purge to delete while the container writes.
    const old = ['2020-01-01T00:00:00.000000', '2020-01-02T00:00:00.000000'].map(
      (stamp) => `${volume}@${stamp}`,
    );
    for (const name of old) {
      await execa('btrfs', [
        'subvolume',
        'snapshot',
        '-r',
        '--',
        join(stack.volumesPath, volume),
        join(stack.snapshotsPath, name),
      ]);
    }
    const [verb, ...rest] = stack.runArgs(
      volume,
      'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo $i >> /data/seq; done',
    );
    const id = (await stack.dockerOk([verb!, '-d', ...rest])).trim();
    const taken: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        await sleep(300);
        const snapshot = (await stack.cliOk(['snapshot', volume])).trim();
        taken.push(snapshot);
        await stack.cliOk(['send', b.address, snapshot]);
        if (round === 1) await stack.cliOk(['purge', '1d', volume]);
      }
    } finally {
      await stack.docker(['stop', '-t', '5', id]);
    }

    /** The counter's lines 1..n, then at most a partial line (what a snapshot mid-write holds). */
    const consistent = (text: string): number => {
      const lines = text.split('\n');
      const tail = lines.pop() ?? '';
      const gap = lines.findIndex((line, i) => line !== String(i + 1));
      expect(gap === -1 ? 'none' : `line ${gap + 1}: ${lines[gap]}`).toBe('none');
      // Says what the tail held when it is not a prefix of the next number (a CI run saw one).
      const next = String(lines.length + 1);
      expect(
        next.startsWith(tail) ? 'a prefix' : `${JSON.stringify(tail)} after ${lines.length}`,
      ).toBe('a prefix');
      return lines.length;
    };
    const written = consistent(await readFile(join(stack.volumesPath, volume, 'seq'), 'utf8'));
    expect(written).toBeGreaterThan(0);
    const listed = (await stack.cliOk(['snapshots', volume])).split('\n').filter(Boolean);
    for (const name of old) expect(listed).not.toContain(name);
    let previous = 0;
    for (const snapshot of taken) {
      expect(listed).toContain(snapshot);
      const local = join(stack.snapshotsPath, snapshot, 'seq');
      const count = consistent(await readFile(local, 'utf8'));
      expect(count).toBeGreaterThanOrEqual(previous);
      expect(count).toBeLessThanOrEqual(written);
      previous = count;
      // B holds exactly what was sent.
      const there = await b.exec(['sha256sum', '--', local]);
      const here = await execa('sha256sum', ['--', local]);
      expect(there.stdout.split(' ')[0]).toBe(here.stdout.split(' ')[0]);
    }
  }, 180_000);

  it('the daemon still serves, and stopping everything leaves no loop device or mount', async () => {
    expect((await stack.docker(['volume', 'ls', '-q'])).exitCode).toBe(0);
    const image = stack.fs.image;
    await b.cleanup();
    await stack.cleanup();
    const { stdout } = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
    expect(stdout).not.toContain(image);
  }, 120_000);
});
