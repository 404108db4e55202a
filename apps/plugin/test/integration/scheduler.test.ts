import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { formatTimestamp, parseSnapshotName } from '@buttervolume/retention';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, silentLogger, startDaemon } from '../../src/index.js';
import { type Caller, createFixture, type Fixture, overSocket } from './helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const VOLUME = 'sched1';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('the scheduler in the daemon (real btrfs, real socket, TIMER=1)', () => {
  let fx: Fixture;
  let daemon: Daemon | undefined;
  let call: Caller;
  const btrfs = new Btrfs();
  const started = Date.now();
  // The scheduler's clock runs 60 times faster: its 1-minute jobs come every real second.
  // Snapshot names and purge ages use the real clock.
  const clock = () => new Date(started + (Date.now() - started) * 60);

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
    daemon = await startDaemon(
      { ...fx.config, timer: 1 },
      { logger: silentLogger, scheduling: { clock, stopGraceMs: 2000 } },
    );
    call = overSocket(daemon.socketPath);
    expect((await call('/VolumeDriver.Create', { Name: VOLUME })).json.Err).toBe('');
  });
  afterAll(async () => {
    await daemon?.close();
    await fx?.cleanup();
  });

  const snapshots = async () =>
    (await readdir(fx.snapshotsPath)).filter((name) => name.startsWith(`${VOLUME}@`)).sort();
  const takenSince = async (since: number) =>
    (await snapshots()).filter((name) => parseSnapshotName(name)!.timestamp.getTime() >= since);

  it('takes snapshots at the job interval and purges old ones with the job pattern', async () => {
    const now = Date.now();
    const old = [5 * DAY, 4 * DAY, 3 * DAY].map(
      (age) => `${VOLUME}@${formatTimestamp(new Date(now - age))}`,
    );
    const recent = `${VOLUME}@${formatTimestamp(new Date(now - 2 * HOUR))}`;
    for (const name of [...old, recent]) {
      await btrfs.snapshot(join(fx.volumesPath, VOLUME), join(fx.snapshotsPath, name), {
        readonly: true,
      });
    }
    const since = Date.now();
    for (const Action of ['snapshot', 'purge:1h:1d']) {
      expect(
        (await call('/VolumeDriver.Schedule', { Name: VOLUME, Action, Timer: 1 })).json,
      ).toEqual({
        Err: '',
      });
    }
    expect(await readFile(fx.config.schedule, 'utf8')).toBe(
      `${VOLUME},snapshot,1,True\r\n${VOLUME},purge:1h:1d,1,True\r\n`,
    );

    await until('4 scheduled snapshots and the purge of the old ones', async () => {
      const all = await snapshots();
      return (await takenSince(since)).length >= 4 && old.every((name) => !all.includes(name));
    });
    const all = await snapshots();
    expect(all).toContain(recent); // 1h..1d keeps one per hour
    const times = (await takenSince(since)).map((n) => parseSnapshotName(n)!.timestamp.getTime());
    for (let i = 1; i < times.length; i += 1) {
      // one (simulated) minute apart at least: the job's interval, not every pass
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(900);
    }
    for (const name of all) expect(await btrfs.isReadOnly(join(fx.snapshotsPath, name))).toBe(true);

    const list = (await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json;
    expect(list.Err).toBe('');
    const entries = list.Schedule as Record<string, unknown>[];
    expect(entries.map((e) => [e.Name, e.Action, e.Timer, e.Active])).toEqual([
      [VOLUME, 'snapshot', '1', 'True'],
      [VOLUME, 'purge:1h:1d', '1', 'True'],
    ]);
    for (const entry of entries) {
      expect(entry.LastOutcome).toBe('ok');
      expect(Date.parse(entry.NextRun as string)).toBeGreaterThan(
        Date.parse(entry.LastRun as string),
      );
    }
    const state = JSON.parse(await readFile(`${fx.config.schedule}.state.json`, 'utf8'));
    expect(state.jobs.map((j: { action: string }) => j.action)).toEqual([
      'snapshot',
      'purge:1h:1d',
    ]);
  });

  it('pauses every job with Schedule.Pause (schedule.csv.disabled) and resumes them', async () => {
    expect((await call('/VolumeDriver.Schedule.Pause')).json).toEqual({ Err: '' });
    expect(await readdir(join(fx.config.runPath))).toContain('schedule.csv.disabled');
    const list = (await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json;
    expect(list.Err).toBe('Schedule is globally paused');
    expect((list.Schedule as { Active: string }[]).every((e) => e.Active === 'False')).toBe(true);
    const refused = await call('/VolumeDriver.Schedule', {
      Name: VOLUME,
      Action: 'snapshot',
      Timer: 5,
    });
    expect(refused.json.Err).toBe('Schedule is globally paused');

    await sleep(1500); // a job that had started before the pause finishes
    const before = await snapshots();
    await sleep(3000);
    expect(await snapshots()).toEqual(before);

    expect((await call('/VolumeDriver.Schedule.Resume')).json).toEqual({ Err: '' });
    const resumed = Date.now();
    await until('a snapshot after resume', async () => (await takenSince(resumed)).length >= 1);
  });

  it('pauses one job with Timer "pause" and removes it with Timer 0', async () => {
    await call('/VolumeDriver.Schedule', { Name: VOLUME, Action: 'snapshot', Timer: 'pause' });
    const list = (await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json;
    const snapshot = (list.Schedule as { Action: string; Active: string; NextRun: unknown }[]).find(
      (e) => e.Action === 'snapshot',
    );
    expect(snapshot).toMatchObject({ Active: 'False', NextRun: null });
    await sleep(1500);
    const before = await snapshots();
    await sleep(2500);
    // the purge job still runs, but keeps everything this young
    expect(await snapshots()).toEqual(before);
    await call('/VolumeDriver.Schedule', { Name: VOLUME, Action: 'snapshot', Timer: 0 });
    expect(await readFile(fx.config.schedule, 'utf8')).toBe(`${VOLUME},purge:1h:1d,1,True\r\n`);
  });

  it('refuses hostile schedule requests with a clear Err and leaves schedule.csv alone', async () => {
    const before = await readFile(fx.config.schedule, 'utf8');
    const cases: [unknown, RegExp][] = [
      [{ Name: '../x', Action: 'snapshot', Timer: 60 }, /Name "\.\.\/x": Invalid volume name/],
      [{ Name: '$(touch /tmp/p)', Action: 'snapshot', Timer: 60 }, /Name/],
      [
        { Name: VOLUME, Action: 'rm -rf', Timer: 60 },
        /Action "rm -rf": unknown action \(use snapshot/,
      ],
      [{ Name: VOLUME, Action: 'replicate:-oProxyCommand=x', Timer: 60 }, /Invalid host name/],
      [{ Name: VOLUME, Action: 'purge:60m:plop:3000m', Timer: 60 }, /Invalid purge pattern/],
      [{ Name: VOLUME, Action: 'snapshot', Timer: -1 }, /Timer/],
      [{ Name: VOLUME, Action: 'snapshot', Timer: 'often' }, /Timer/],
      [{ Name: 'x'.repeat(300), Action: 'snapshot', Timer: 60 }, /Name/],
      ['{"Name": ', /malformed JSON/],
      [[1, 2], /JSON object/],
    ];
    for (const [body, err] of cases) {
      const { status, json } = await call('/VolumeDriver.Schedule', body);
      expect(status).toBe(200);
      expect(json.Err).toMatch(err);
    }
    expect(await readFile(fx.config.schedule, 'utf8')).toBe(before);
    expect(await readdir('/tmp')).not.toContain('p');
  });

  it('snapshot:skip-unchanged takes one snapshot, skips while unchanged, and the next after a write', async () => {
    const quiet = 'quiet1';
    expect((await call('/VolumeDriver.Create', { Name: quiet })).json.Err).toBe('');
    const mine = async () =>
      (await readdir(fx.snapshotsPath)).filter((name) => name.startsWith(`${quiet}@`));
    const entry = async () =>
      (
        (await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json.Schedule as Record<
          string,
          unknown
        >[]
      ).find((e) => e.Name === quiet);
    const Action = 'snapshot:skip-unchanged';
    expect((await call('/VolumeDriver.Schedule', { Name: quiet, Action, Timer: 1 })).json.Err).toBe(
      '',
    );
    await until('the first snapshot', async () => (await mine()).length === 1);
    const firstRun = (await entry())?.LastRun as string;
    await until(
      'a run that skipped',
      async () =>
        (await entry())?.LastOutcome === 'skipped: unchanged' &&
        (await entry())?.LastRun !== firstRun,
    );
    expect(await mine()).toHaveLength(1);
    // A write still in the page cache: the check's filesystem sync must see it.
    await appendFile(join(fx.volumesPath, quiet, 'data'), 'x');
    await until('a snapshot after the write', async () => (await mine()).length === 2);
    await call('/VolumeDriver.Schedule', { Name: quiet, Action, Timer: 0 });
  });

  it('stops the scheduler when the daemon stops', async () => {
    await call('/VolumeDriver.Schedule', { Name: VOLUME, Action: 'snapshot', Timer: 1 });
    const since = Date.now();
    await until('a snapshot', async () => (await takenSince(since)).length >= 1);
    await daemon!.close();
    daemon = undefined;
    const after = await snapshots();
    await sleep(2500);
    expect(await snapshots()).toEqual(after);
  });
});
