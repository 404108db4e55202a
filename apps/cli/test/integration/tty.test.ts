// What an operator sees on a terminal, against a real daemon whose scheduler really runs jobs.
// The terminal is the CLI context's `tty` (what bin.ts sets from process.stdout.isTTY): a
// pseudo-terminal would need a shell wrapper such as script(1).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ScheduleEntry } from '@buttervolume/api';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { Cli } from 'clipanion';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/index.js';
import { type DaemonFixture, startDaemonFixture } from './daemon.js';

const TIME = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d`;
let fx: DaemonFixture;

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount']);
  // A scheduler pass every second, so jobs run while the test waits.
  fx = await startDaemonFixture({ env: { BUTTERVOLUME_TIMER: '1' } });
});

afterAll(async () => {
  await fx?.stop();
});

/** The CLI in this process, its stdout a terminal or a pipe. */
async function run(argv: string[], tty: boolean) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await runCli(argv, {
    ...Cli.defaultContext,
    stdin: new PassThrough(),
    stdout,
    stderr,
    env: fx.env,
    colorDepth: 1,
    tty,
    now: () => new Date(),
  });
  return { code, out, err };
}

async function waitForRuns(volumes: readonly string[]): Promise<ScheduleEntry[]> {
  for (let attempt = 0; attempt < 150; attempt++) {
    const { Schedule } = await fx.client.scheduleList();
    const done = Schedule.filter((job) => volumes.includes(job.Name) && job.LastOutcome);
    if (done.length === volumes.length) return Schedule;
    await sleep(100);
  }
  throw new Error(`the scheduler did not run the jobs of ${volumes.join(', ')} within 15 s`);
}

describe('on a terminal', () => {
  it('scheduled shows last run, outcome and next run; a pipe gets the plain lines', async () => {
    await fx.client.create('tty-vol');
    expect((await run(['schedule', 'snapshot', '1', 'tty-vol'], true)).code).toBe(0);
    // A job that fails at every run: its volume does not exist.
    expect((await run(['schedule', 'snapshot', '1', 'tty-ghost'], true)).code).toBe(0);
    // A cron job that does not run during the test.
    expect((await run(['schedule', 'purge:1h:1d', '30 2 * * *', 'tty-vol'], true)).code).toBe(0);
    await waitForRuns(['tty-vol', 'tty-ghost']);

    const terminal = await run(['scheduled'], true);
    expect(terminal).toMatchObject({ code: 0, err: '' });
    const lines = terminal.out.split('\n');
    expect(lines[0]).toMatch(/^ACTION\s+TIMER\s+VOLUME\s+LAST RUN\s+OUTCOME\s+NEXT RUN$/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^snapshot\\s+1\\s+tty-vol\\s+${TIME}\\s+ok\\s+${TIME}$`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^snapshot\\s+1\\s+tty-ghost\\s+${TIME}\\s+error\\s+${TIME}$`),
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^purge:1h:1d\\s+'30 2 \\* \\* \\*'\\s+tty-vol\\s+-\\s+-\\s+${TIME}$`),
      ),
    );
    // Why the failing job failed, under the table.
    expect(lines).toContain('Last errors:');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}snapshot 1 tty-ghost: .*tty-ghost/));

    const piped = await run(['scheduled'], false);
    expect(piped.out.split('\n').filter(Boolean).sort()).toEqual([
      "purge:1h:1d '30 2 * * *' tty-vol",
      'snapshot 1 tty-ghost',
      'snapshot 1 tty-vol',
    ]);
    // The built binary in a pipe prints the same plain lines.
    expect((await fx.cli(['scheduled'])).stdout).toBe(piped.out.trimEnd());
  });

  it('snapshots shows each snapshot with its volume and age; a pipe gets one name a line', async () => {
    await fx.client.create('age-vol');
    await writeFile(join(fx.volumesPath, 'age-vol', 'data.txt'), 'x');
    const taken = (await run(['snapshot', 'age-vol'], true)).out.trim();
    const old = 'age-vol@2020-01-01T00:00:00.000000';
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '-r',
      join(fx.volumesPath, 'age-vol'),
      join(fx.snapshotsPath, old),
    ]);
    const terminal = await run(['snapshots', 'age-vol'], true);
    expect(terminal.code).toBe(0);
    expect(terminal.out.split('\n')).toEqual([
      expect.stringMatching(/^SNAPSHOT\s+VOLUME\s+AGE$/),
      expect.stringMatching(new RegExp(`^${old}\\s+age-vol\\s+\\d+d( \\d+h)?$`)),
      expect.stringMatching(new RegExp(`^${taken}\\s+age-vol\\s+\\d+s$`)),
      '',
    ]);
    const piped = await run(['snapshots', 'age-vol'], false);
    expect(piped.out.split('\n').filter(Boolean).sort()).toEqual([old, taken].sort());
  });
});
