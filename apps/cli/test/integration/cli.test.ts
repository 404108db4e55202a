import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonFixture, startDaemonFixture } from './daemon.js';

// Where a shell would create a file if a name ever reached one.
const PWNED = join(tmpdir(), `bv-pwned-${randomBytes(4).toString('hex')}`);
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;
let fx: DaemonFixture;

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount']);
  fx = await startDaemonFixture();
});

afterAll(async () => {
  await fx?.stop();
});

async function createVolume(name: string, content?: string): Promise<void> {
  await fx.client.create(name);
  if (content !== undefined) await writeFile(join(fx.volumesPath, name, 'data.txt'), content);
}

describe('buttervolume against a real daemon', () => {
  it('snapshot prints the new snapshot, which is a read-only subvolume', async () => {
    await createVolume('snap-vol', 'v1');
    const result = await fx.cli(['snapshot', 'snap-vol']);
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    const [volume, stamp] = result.stdout.split('@');
    expect(volume).toBe('snap-vol');
    expect(stamp).toMatch(STAMP);
    const show = await execa('btrfs', [
      'property',
      'get',
      '-ts',
      join(fx.snapshotsPath, result.stdout),
      'ro',
    ]);
    expect(show.stdout.trim()).toBe('ro=true');
  });

  it('snapshots lists one name a line when piped, and JSON with --json', async () => {
    await createVolume('list-vol');
    const first = (await fx.cli(['snapshot', 'list-vol'])).stdout;
    const second = (await fx.cli(['snapshot', 'list-vol'])).stdout;
    const listed = await fx.cli(['snapshots', 'list-vol']);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout.split('\n').sort()).toEqual([first, second].sort());
    const json = JSON.parse((await fx.cli(['snapshots', 'list-vol', '--json'])).stdout);
    expect(json.Err).toBe('');
    expect([...json.Snapshots].sort()).toEqual([first, second].sort());
    const long = await fx.cli(['snapshots', 'list-vol', '--long']);
    expect(long.stdout.split('\n')[0]).toMatch(/^SNAPSHOT\s+VOLUME\s+AGE$/);
    expect(long.stdout).toMatch(new RegExp(`${first}\\s+list-vol\\s+\\d+s`));
    const all = await fx.cli(['snapshots']);
    expect(all.stdout.split('\n')).toEqual(expect.arrayContaining([first, second]));
  });

  it('restore brings back the content and keeps the replaced one as a backup', async () => {
    await createVolume('restore-vol', 'before');
    const snapshot = (await fx.cli(['snapshot', 'restore-vol'])).stdout;
    await writeFile(join(fx.volumesPath, 'restore-vol', 'data.txt'), 'after');
    const result = await fx.cli(['restore', snapshot]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^Restored ${snapshot} into restore-vol; its previous content is snapshot restore-vol@`,
      ),
    );
    expect(await readFile(join(fx.volumesPath, 'restore-vol', 'data.txt'), 'utf8')).toBe('before');
    const backup = result.stdout.split(' ').at(-1) ?? '';
    expect(await readFile(join(fx.snapshotsPath, backup, 'data.txt'), 'utf8')).toBe('after');
  });

  it('restore --json prints the daemon answer with VolumeBackup', async () => {
    await createVolume('restore-json', 'x');
    const snapshot = (await fx.cli(['snapshot', 'restore-json'])).stdout;
    const answer = JSON.parse((await fx.cli(['restore', snapshot, '--json'])).stdout);
    expect(answer.Err).toBe('');
    expect(answer.VolumeBackup).toMatch(/^restore-json@/);
  });

  it('clone makes a writable copy under a new name', async () => {
    await createVolume('clone-src', 'shared');
    const result = await fx.cli(['clone', 'clone-src', 'clone-dst']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'Cloned clone-src into clone-dst' });
    expect(await readFile(join(fx.volumesPath, 'clone-dst', 'data.txt'), 'utf8')).toBe('shared');
    await writeFile(join(fx.volumesPath, 'clone-dst', 'data.txt'), 'changed');
    expect(await readFile(join(fx.volumesPath, 'clone-src', 'data.txt'), 'utf8')).toBe('shared');
  });

  it('rm deletes a snapshot; a second rm is a daemon error (exit 1)', async () => {
    await createVolume('rm-vol');
    const snapshot = (await fx.cli(['snapshot', 'rm-vol'])).stdout;
    expect(await fx.cli(['rm', snapshot])).toMatchObject({
      exitCode: 0,
      stdout: `Deleted ${snapshot}`,
    });
    await expect(stat(join(fx.snapshotsPath, snapshot))).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await fx.cli(['rm', snapshot]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^Error: .*[Nn]o such snapshot/);
  });

  it('purge --dryrun shows what would go and deletes nothing; purge deletes it', async () => {
    await createVolume('purge-vol');
    const old = 'purge-vol@2020-01-01T00:00:00.000000';
    // An old snapshot made with btrfs itself, as if it had been taken years ago.
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '-r',
      join(fx.volumesPath, 'purge-vol'),
      join(fx.snapshotsPath, old),
    ]);
    const recent = (await fx.cli(['snapshot', 'purge-vol'])).stdout;

    const dry = await fx.cli(['purge', '--dryrun', '1h:1d', 'purge-vol']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('Would purge 1 snapshot(s) of purge-vol and keep 1');
    expect(dry.stdout).toMatch(new RegExp(`would purge\\s+${old}`));
    expect(dry.stdout).toMatch(new RegExp(`keep\\s+${recent}`));
    expect(await fx.listing()).toContain(`snapshots/${old}`);

    const json = JSON.parse(
      (await fx.cli(['purge', '--dryrun', '--json', '1h:1d', 'purge-vol'])).stdout,
    );
    expect(json).toMatchObject({ Err: '', Purged: [old] });

    const real = await fx.cli(['purge', '1h:1d', 'purge-vol']);
    expect(real).toMatchObject({ exitCode: 0 });
    expect(real.stdout).toContain('Purged 1 snapshot(s) of purge-vol');
    const after = await fx.listing();
    expect(after).not.toContain(`snapshots/${old}`);
    expect(after).toContain(`snapshots/${recent}`);
  });

  it("a bad purge pattern is refused by the CLI (exit 2) with the daemon's words", async () => {
    await createVolume('pattern-vol');
    await fx.cli(['snapshot', 'pattern-vol']);
    const before = await fx.listing();
    for (const pattern of ['60m:plop:3000m', '4x', 'daily=0', '4h,daily=7', '1h:1d;rm', "1h:1d'"]) {
      const result = await fx.cli(['purge', pattern, 'pattern-vol']);
      expect(result.exitCode, pattern).toBe(2);
      expect(result.stderr).toMatch(/^Error: Invalid (purge pattern|calendar policy)/);
    }
    expect(await fx.listing()).toEqual(before);
  });

  it('rm deletes a send marker (<volume>@<ts>@<host>) like a snapshot', async () => {
    await createVolume('marker-vol');
    const snapshot = (await fx.cli(['snapshot', 'marker-vol'])).stdout;
    const marker = `${snapshot}@backup-1`;
    // A marker as replication leaves it: a read-only snapshot named after the host.
    await execa('btrfs', [
      'subvolume',
      'snapshot',
      '-r',
      join(fx.snapshotsPath, snapshot),
      join(fx.snapshotsPath, marker),
    ]);
    expect((await fx.cli(['snapshots', 'marker-vol'])).stdout.split('\n')).toContain(marker);
    expect(await fx.cli(['rm', marker])).toMatchObject({
      exitCode: 0,
      stdout: `Deleted ${marker}`,
    });
    const after = await fx.listing();
    expect(after).not.toContain(`snapshots/${marker}`);
    expect(after).toContain(`snapshots/${snapshot}`);
    for (const bad of [`${snapshot}@-rf`, `${snapshot}@a/b`, `${snapshot}@`]) {
      const result = await fx.cli(['rm', bad]);
      expect(result.exitCode, bad).toBe(2);
      expect(result.stderr).toMatch(/^Error: Invalid snapshot name/);
    }
    expect(await fx.listing()).toEqual(after);
  });

  it('restore into a volume that does not exist creates it and says no backup was needed', async () => {
    await createVolume('restore-src', 'content');
    const snapshot = (await fx.cli(['snapshot', 'restore-src'])).stdout;
    const result = await fx.cli(['restore', snapshot, 'restore-new']);
    expect(result).toMatchObject({
      exitCode: 0,
      stdout: `Restored ${snapshot} into restore-new, a new volume (restore-new did not exist: no backup was needed)`,
    });
    expect(await readFile(join(fx.volumesPath, 'restore-new', 'data.txt'), 'utf8')).toBe('content');
  });

  it('exit 1 with the daemon message for a volume that does not exist', async () => {
    const result = await fx.cli(['snapshot', 'no-such-volume']);
    expect(result).toMatchObject({ exitCode: 1, stdout: '' });
    expect(result.stderr).toBe('Error: no-such-volume: no such volume');
  });

  it('schedule and scheduled: jobs listed as "<action> <timer> <volume>"', async () => {
    await createVolume('sched-vol');
    expect((await fx.cli(['schedule', 'snapshot', '60', 'sched-vol'])).exitCode).toBe(0);
    expect((await fx.cli(['schedule', 'purge:1h:1d', '120', 'sched-vol'])).exitCode).toBe(0);
    const listed = await fx.cli(['scheduled']);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout.split('\n')).toEqual(
      expect.arrayContaining(['snapshot 60 sched-vol', 'purge:1h:1d 120 sched-vol']),
    );
    expect((await fx.cli(['schedule', 'snapshot', 'pause', 'sched-vol'])).exitCode).toBe(0);
    expect((await fx.cli(['scheduled'])).stdout.split('\n')).toContain(
      'snapshot 60 sched-vol (paused)',
    );
    expect((await fx.cli(['scheduled', 'pause'])).exitCode).toBe(0);
    const paused = await fx.cli(['scheduled']);
    expect(paused.exitCode).toBe(0);
    expect(paused.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        'snapshot 60 sched-vol (paused)',
        'purge:1h:1d 120 sched-vol (paused)',
      ]),
    );
    expect(paused.stderr).toContain('The whole schedule is paused');
    expect((await fx.cli(['scheduled', 'resume'])).exitCode).toBe(0);
    expect((await fx.cli(['scheduled'])).stdout.split('\n')).toContain('purge:1h:1d 120 sched-vol');
    expect((await fx.cli(['schedule', 'snapshot', 'delete', 'sched-vol'])).exitCode).toBe(0);
    expect((await fx.cli(['schedule', 'purge:1h:1d', '0', 'sched-vol'])).exitCode).toBe(0);
    expect((await fx.cli(['scheduled'])).stdout).not.toContain('sched-vol');
  });

  it.each([
    [['schedule', 'explode', '60', 'bad-sched']],
    [['schedule', 'purge:60m:plop:3000m', '60', 'bad-sched']],
    [['schedule', 'purge:4x', '60', 'bad-sched']],
    [['schedule', 'purge:monthly=0', '60', 'bad-sched']],
    [['schedule', 'replicate:-oProxyCommand=x', '60', 'bad-sched']],
    [['schedule', `synchronize:h1,$(touch ${PWNED})`, '60', 'bad-sched']],
    [['schedule', 'snapshot', '61 * * * *', 'bad-sched']],
    [['schedule', 'snapshot', 'soon', 'bad-sched']],
    [['schedule', 'snapshot', '60', '../x']],
  ])('%j is refused by the CLI (exit 2); schedule.csv is untouched', async (argv) => {
    const schedulePath = fx.env.BUTTERVOLUME_SCHEDULE ?? '';
    const before = await readFile(schedulePath, 'utf8').catch(() => undefined);
    const result = await fx.cli(argv);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^Error: Invalid (scheduled job|purge pattern|volume name)/);
    expect(await readFile(schedulePath, 'utf8').catch(() => undefined)).toBe(before);
    expect((await fx.cli(['scheduled'])).stdout).not.toContain('bad-sched');
    await expect(stat(PWNED)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('scheduled shows an invalid schedule.csv row with its reason; schedule … delete removes it', async () => {
    const schedulePath = fx.env.BUTTERVOLUME_SCHEDULE ?? '';
    const before = await readFile(schedulePath, 'utf8').catch(() => '');
    // A row with an unknown unit, and a line that is not a row at all.
    await writeFile(schedulePath, `${before}bad-row,purge:4x,60,True\ngarbage\n`);
    const listed = (await fx.cli(['scheduled'])).stdout.split('\n');
    expect(listed).toContainEqual(
      expect.stringMatching(/^purge:4x 60 bad-row \(invalid: .*Invalid purge pattern "4x"/),
    );
    expect(listed).toContainEqual(
      expect.stringMatching(/^schedule\.csv line \d+ \(invalid\): .*garbage/),
    );
    expect(listed.filter((line) => line.trim() === '(paused)')).toEqual([]);
    const removed = await fx.cli(['schedule', 'purge:4x', 'delete', 'bad-row']);
    expect(removed).toMatchObject({
      exitCode: 0,
      stdout: 'Removed the scheduled purge:4x of bad-row',
    });
    expect((await fx.cli(['scheduled'])).stdout).not.toContain('bad-row');
    await writeFile(schedulePath, before);
  });

  it.each([
    ['snapshot', '../x'],
    ['snapshot', `$(touch ${PWNED})`],
    ['snapshot', '--', '-rf'],
    ['snapshot', 'a'.repeat(300)],
    ['snapshot', ''],
    ['clone', 'snap-vol', '../escape'],
    ['clone', 'snap-vol', 'a/b'],
    ['clone', 'snap-vol', 'it"s'],
    ['restore', 'snap-vol', '../x'],
    ['rm', '../../etc@2026-01-01T00:00:00.000000'],
    ['purge', '1h:1d', '../x'],
    ['send', 'h1', `$(touch ${PWNED})@2026-01-01T00:00:00.000000`],
    ['sync', 'snap-vol', `;touch ${PWNED}`],
  ])('hostile %j: exit 2, nothing created or deleted', async (...argv) => {
    const before = await fx.listing();
    const result = await fx.cli(argv);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^Error: Invalid (volume|snapshot|host) name/);
    expect(await fx.listing()).toEqual(before);
    await expect(stat(PWNED)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('exit 2 for a malformed command line', async () => {
    for (const argv of [
      [],
      ['bogus'],
      ['snapshot'],
      ['sync', 'snap-vol'],
      ['scheduled', 'explode'],
    ]) {
      expect((await fx.cli(argv)).exitCode, JSON.stringify(argv)).toBe(2);
    }
  });

  it('exit 1 and how to start it when the daemon is not running', async () => {
    const result = await fx.cli(['snapshots', '--socket', join(fx.fs.dir, 'bv-nobody.sock')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('cannot reach the buttervolume daemon');
    expect(result.stderr).toContain('buttervolume run');
    expect(result.stderr).toContain('BUTTERVOLUME_SOCKET');
  });

  it('--version prints the version of the CLI', async () => {
    expect(await fx.cli(['--version'])).toMatchObject({ exitCode: 0, stdout: '0.1.0' });
  });
});
