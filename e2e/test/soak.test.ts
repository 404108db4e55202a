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

  it('the daemon still serves, and stopping everything leaves no loop device or mount', async () => {
    expect((await stack.docker(['volume', 'ls', '-q'])).exitCode).toBe(0);
    const image = stack.fs.image;
    await b.cleanup();
    await stack.cleanup();
    const { stdout } = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
    expect(stdout).not.toContain(image);
  }, 120_000);
});
