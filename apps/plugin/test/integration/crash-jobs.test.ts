// The fault suite's kill -9 of the daemon during a purge and during schedule.csv writes, on a
// real daemon process: after a restart no lock is left, schedule.csv is whole, nothing
// half-deleted shows, and the scheduled job that was cut off runs again.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import pMap from 'p-map';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixture,
  type DaemonProcess,
  daemonEnvOf,
  type Fixture,
  readOnlySnapshot,
  spawnDaemon,
} from './helpers.js';

const OLD_SNAPSHOTS = 300;

describe('the daemon killed (SIGKILL) during a purge or a schedule write', () => {
  let fx: Fixture;
  let env: Record<string, string>;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'pgrep']);
    fx = await createFixture();
    env = {
      ...daemonEnvOf(fx),
      BUTTERVOLUME_LOGLEVEL: 'WARNING',
      // A scheduler pass every second: a job cut off by the kill is due again at once.
      BUTTERVOLUME_TIMER: '1',
    };
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.stop();
    await fx?.cleanup();
  });

  async function start(): Promise<DaemonProcess> {
    const daemon = await spawnDaemon(env);
    daemons.push(daemon);
    return daemon;
  }

  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 2400; i++) {
      if (await check()) return;
      await sleep(25);
    }
    const log = daemons.at(-1)?.stderr() ?? '';
    throw new Error(`timed out waiting for ${what}; the daemon's log ends:\n${log.slice(-3000)}`);
  }

  /** Whether the daemon's child now is a `btrfs subvolume delete`. */
  // The daemon's commands are its spawner's children (@buttervolume/spawner): two levels down.
  async function deleting(pid: number, depth = 2): Promise<boolean> {
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean)) {
      const argv = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      if (argv.includes('subvolume\0delete\0')) return true;
      if (depth > 1 && (await deleting(Number(child), depth - 1))) return true;
    }
    return false;
  }

  const running = async (pattern: string) =>
    (await execa('pgrep', ['-f', pattern], { reject: false })).stdout.trim() !== '';

  it('during a scheduled purge: after a restart the job runs again and finishes, no lock is left', async () => {
    const volume = 'purged';
    const setup = await start();
    expect((await setup.call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    await setup.stop();
    const old = Array.from(
      { length: OLD_SNAPSHOTS },
      (_, i) => `${volume}@2020-01-01T00:00:00.${String(i).padStart(6, '0')}`,
    );
    // Side by side: concurrent snapshots share btrfs commits.
    await pMap(
      old,
      (name) => readOnlySnapshot(join(fx.volumesPath, volume), join(fx.snapshotsPath, name)),
      { concurrency: 16 },
    );
    // The purge is the scheduler's: the kill cuts a job off, and the next start owes it a run.
    // Scheduled once the daemon answers, so its first pass (a second later) cannot come and go
    // before the watch below begins: on a loaded machine start() returns late.
    let daemon = await start();
    const job = { Name: volume, Action: 'purge:1h:1d', Timer: '60' };
    expect((await daemon.call('/VolumeDriver.Schedule', job)).json.Err).toBe('');
    // Killed while its `btrfs subvolume delete` runs (the spawner, cut off, then stops it).
    // Watched from /proc, every millisecond: the delete lasts a fraction of a second.
    const deadline = Date.now() + 30_000;
    while (!(await deleting(daemon.pid))) {
      if (Date.now() > deadline) throw new Error(`no delete seen: ${daemon.stderr()}`);
      await sleep(1);
    }
    await daemon.crash();
    // The kill cut the job short: nothing recorded it as done, so the next start owes it a run.
    const state = await readFile(`${fx.config.schedule}.state.json`, 'utf8').catch(() => '{}');
    expect(state).not.toMatch(/lastSuccess/);
    await until('the orphaned delete to end', async () => !(await running(fx.snapshotsPath)));

    daemon = await start();
    // No stale lock: the volume is snapshotted, mounted and unmounted at once.
    const fresh = await daemon.call('/VolumeDriver.Snapshot', { Name: volume });
    expect(fresh.json.Err).toBe('');
    expect((await daemon.call('/VolumeDriver.Mount', { Name: volume, ID: 'c' })).json.Err).toBe('');
    expect((await daemon.call('/VolumeDriver.Unmount', { Name: volume, ID: 'c' })).json.Err).toBe(
      '',
    );
    // The cut-off job runs again on its own and ends the work: every old snapshot goes but
    // the newest of them, which it keeps if it ran before the new one was taken.
    await until('the scheduled purge to run again', async () => {
      const { json } = await daemon.call('/VolumeDriver.Schedule.List', undefined, 'GET');
      const [row] = json.Schedule as { LastOutcome?: string | null }[];
      return row?.LastOutcome === 'ok';
    });
    const newestOld = `${volume}@2020-01-01T00:00:00.${String(OLD_SNAPSHOTS - 1).padStart(6, '0')}`;
    const rest = (await readdir(fx.snapshotsPath)).filter((n) => n !== fresh.json.Snapshot);
    expect(rest.length === 0 || (rest.length === 1 && rest[0] === newestOld)).toBe(true);
    const listed = await daemon.call(`/VolumeDriver.Snapshot.List/${volume}`, undefined, 'GET');
    expect(listed.json.Snapshots).toEqual([...rest, fresh.json.Snapshot].sort());
    // Each one left is a whole read-only snapshot.
    for (const name of listed.json.Snapshots as string[]) {
      const { stdout } = await execa('btrfs', [
        'property',
        'get',
        '-ts',
        '--',
        join(fx.snapshotsPath, name),
        'ro',
      ]);
      expect(stdout.trim()).toBe('ro=true');
    }
    await daemon.stop();
  });

  it('during schedule.csv writes: the file is whole afterwards, no temp file stays, writes go on', async () => {
    await writeFile(fx.config.schedule, '');
    const volume = 'scheduled';
    let daemon = await start();
    expect((await daemon.call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    // Eight clients rewrite the schedule back to back, so that the kill lands inside a write.
    let answered = 0;
    let stop = false;
    const acknowledged = new Set<string>();
    const clients = Array.from({ length: 8 }, async (_, client) => {
      for (let n = 0; !stop; n++) {
        const action = `purge:${client + 1}h:${(n % 50) + 2}d`;
        try {
          const { json } = await daemon.call('/VolumeDriver.Schedule', {
            Name: volume,
            Action: action,
            Timer: '60',
          });
          if (json.Err === '') acknowledged.add(action);
          answered++;
        } catch {
          return; // the daemon is gone: this client's last request got no answer
        }
      }
    });
    await until('some schedule writes', async () => answered >= 40);
    const killed = daemon.pid;
    await daemon.crash();
    stop = true;
    await Promise.all(clients);

    // Whole: every line a complete row ending in \r\n, each (Name, Action) once.
    const text = await readFile(fx.config.schedule, 'utf8');
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = text.split('\r\n').slice(0, -1);
    for (const row of rows) expect(row).toMatch(/^scheduled,purge:\d+h:\d+d,60,True$/);
    expect(new Set(rows).size).toBe(rows.length);
    // Nothing acknowledged is missing: an answered write was on disk before its answer.
    const actions = new Set(rows.map((row) => row.split(',')[1]));
    for (const action of acknowledged) expect(actions.has(action)).toBe(true);

    daemon = await start();
    // The killed daemon's temp files are gone; the new one may be writing its own right now.
    const etc = await readdir(join(fx.config.schedule, '..'));
    expect(etc.filter((name) => name.endsWith('.tmp') && name.includes(`.${killed}.`))).toEqual([]);
    const { json } = await daemon.call('/VolumeDriver.Schedule.List', undefined, 'GET');
    expect((json.Schedule as unknown[]).length).toBe(rows.length);
    const next = { Name: volume, Action: 'snapshot', Timer: '60' };
    expect((await daemon.call('/VolumeDriver.Schedule', next)).json.Err).toBe('');
    expect(await readFile(fx.config.schedule, 'utf8')).toBe(
      `${text}${volume},snapshot,60,True\r\n`,
    );
    await daemon.stop();
  });
});
