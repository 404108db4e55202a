import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '@buttervolume/files';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobNotFoundError, SchedulePausedError, ScheduleStoreError } from './errors.js';
import { jobKey, parseJob } from './job.js';
import { applyScheduleCommand, parseScheduleRequest } from './request.js';
import { defaultStatePath, loadStates, saveStates } from './state.js';
import { ScheduleStore } from './store.js';

let dir: string;
let path: string;
let store: ScheduleStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-sched-'));
  path = join(dir, 'etc', 'schedule.csv');
  store = new ScheduleStore(path);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const job = (name: string, action: string, timer = '60') =>
  parseJob({ Name: name, Action: action, Timer: timer });
const read = () => readFile(path, 'utf8');
const request = async (body: unknown) => applyScheduleCommand(store, parseScheduleRequest(body));

describe('ScheduleStore.read', () => {
  it('reads a missing schedule as empty and not paused', async () => {
    expect(await store.read()).toEqual({ paused: false, jobs: [], problems: [] });
  });

  it('reads a 3.x file verbatim, quoted or unquoted synchronize, old 3-column rows', async () => {
    await store.upsert(job('seed', 'snapshot')); // creates etc/
    await writeFile(
      path,
      [
        'foovolume,snapshot,60,True',
        'foovolume,purge:4h:1w:1y,60,True',
        'foovolume,replicate:otherhost,3600,False',
        'foovolume,"synchronize:h1,h2",60,True',
        'barvolume,synchronize:h1,h2,60,True',
        'oldvolume,snapshot,30',
        'calvolume,"purge:daily=7,weekly=4",60,True',
        'calvolume,purge:hourly=24,min=1d,60,True',
        'calvolume,purge:2h,60',
        '',
      ].join('\r\n'),
    );
    const schedule = await store.read();
    expect(schedule.problems).toEqual([]);
    expect(schedule.jobs.map((j) => [j.volume, j.actionText, j.timer, j.active])).toEqual([
      ['foovolume', 'snapshot', { kind: 'interval', minutes: 60 }, true],
      ['foovolume', 'purge:4h:1w:1y', { kind: 'interval', minutes: 60 }, true],
      ['foovolume', 'replicate:otherhost', { kind: 'interval', minutes: 3600 }, false],
      ['foovolume', 'synchronize:h1,h2', { kind: 'interval', minutes: 60 }, true],
      ['barvolume', 'synchronize:h1,h2', { kind: 'interval', minutes: 60 }, true],
      ['oldvolume', 'snapshot', { kind: 'interval', minutes: 30 }, true],
      ['calvolume', 'purge:daily=7,weekly=4', { kind: 'interval', minutes: 60 }, true],
      ['calvolume', 'purge:hourly=24,min=1d', { kind: 'interval', minutes: 60 }, true],
      ['calvolume', 'purge:2h', { kind: 'interval', minutes: 60 }, true],
    ]);
  });

  it('keeps hostile rows in the file, reports them, and runs none of them', async () => {
    const hostile = [
      '../x,snapshot,60,True',
      'aa,rm -rf,60,True',
      'a1,snapshot,-1,True',
      'a1,replicate:-oProxyCommand=x,60,True',
      '"$(touch /tmp/p)",snapshot,60,True',
      'a1,snapshot',
      '"unclosed,snapshot,60,True',
      'a1,snapshot,60,True,extra',
    ];
    const text = `${['good,snapshot,60,True', ...hostile].join('\r\n')}\r\n`;
    await store.upsert(job('seed', 'snapshot'));
    await writeFile(path, text);
    const schedule = await store.read();
    expect(schedule.jobs.map((j) => j.volume)).toEqual(['good']);
    expect(schedule.problems.map((p) => [p.line, p.raw])).toEqual(
      hostile.map((raw, i) => [i + 2, raw]),
    );
    expect(schedule.problems[1]!.reason).toMatch(/unknown action/);
    expect(schedule.problems[3]!.reason).toMatch(/Invalid host name "-oProxyCommand=x"/);
    // A change elsewhere leaves every one of those lines as it was.
    await store.upsert(job('new1', 'snapshot', '5'));
    expect(await read()).toBe(`${text}new1,snapshot,5,True\r\n`);
    expect(await readdir(dir)).toEqual(['etc']);
  });

  it('lets a later row with the same (Name, Action) win and reports the earlier one', async () => {
    await store.upsert(job('seed', 'snapshot'));
    await writeFile(path, 'v1,snapshot,60,True\r\nv1,snapshot,5,True\r\n');
    const schedule = await store.read();
    expect(schedule.jobs).toHaveLength(1);
    expect(schedule.jobs[0]!.timer).toEqual({ kind: 'interval', minutes: 5 });
    expect(schedule.problems[0]).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/line 2/),
    });
  });
});

describe('ScheduleStore.read of an unchanged file', () => {
  it('answers the same schedule while the text is the same, and sees every edit behind its back', async () => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, 'pgdata,snapshot,60,True\r\n');
    const first = await store.read();
    expect(await store.read()).toBe(first);
    // Same length, another timer, written by hand (not through the store).
    await writeFile(path, 'pgdata,snapshot,30,True\r\n');
    const edited = await store.read();
    expect(edited).not.toBe(first);
    expect(edited.jobs.map((j) => j.timer)).toEqual([{ kind: 'interval', minutes: 30 }]);
    // A change through the store, then a pause (same rows, now in the .disabled file).
    await store.setActive('pgdata', 'snapshot', false);
    expect((await store.read()).jobs[0]?.active).toBe(false);
    await store.pause();
    const paused = await store.read();
    expect(paused.paused).toBe(true);
    await store.resume();
    expect((await store.read()).paused).toBe(false);
  });
});

describe('ScheduleStore changes', () => {
  it('writes like Python: no header, \\r\\n, quoting only the field with a comma', async () => {
    await store.upsert(job('foovolume', 'snapshot'));
    await store.upsert(job('foovolume', 'synchronize:h1,h2'));
    await store.upsert(job('foovolume', 'purge:4h:1w:1y', '30 2 * * *'));
    expect(await read()).toBe(
      'foovolume,snapshot,60,True\r\nfoovolume,"synchronize:h1,h2",60,True\r\nfoovolume,purge:4h:1w:1y,30 2 * * *,True\r\n',
    );
  });

  it('replaces a job in place, keyed by (Name, Action), and resumes it', async () => {
    await store.upsert(job('a1', 'snapshot'));
    await store.upsert(job('b1', 'snapshot'));
    await store.setActive('a1', 'snapshot', false);
    await store.upsert(job('a1', 'snapshot', '15'));
    expect(await read()).toBe('a1,snapshot,15,True\r\nb1,snapshot,60,True\r\n');
  });

  it('keeps untouched rows byte for byte, \\n endings and a missing last newline included', async () => {
    await store.upsert(job('seed', 'snapshot'));
    await writeFile(path, 'a1,snapshot,60\nb1,snapshot,60,True');
    await store.setActive('a1', 'snapshot', false);
    expect(await read()).toBe('a1,snapshot,60,False\r\nb1,snapshot,60,True');
    await store.upsert(job('c1', 'snapshot'));
    expect(await read()).toBe(
      'a1,snapshot,60,False\r\nb1,snapshot,60,True\r\nc1,snapshot,60,True\r\n',
    );
  });

  it('removes every row of a key, even one that does not parse, and is idempotent', async () => {
    await store.upsert(job('seed', 'snapshot'));
    await writeFile(path, '../x,snapshot,60,True\r\nv1,snapshot,60,True\r\n');
    expect(await store.remove('../x', 'snapshot')).toBe(true);
    expect(await read()).toBe('v1,snapshot,60,True\r\n');
    expect(await store.remove('../x', 'snapshot')).toBe(false);
    expect(await read()).toBe('v1,snapshot,60,True\r\n');
  });

  it('refuses to pause or resume a job that is not scheduled', async () => {
    await expect(store.setActive('v1', 'snapshot', false)).rejects.toBeInstanceOf(JobNotFoundError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('serialises concurrent changes: none is lost', async () => {
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.upsert(job(`v${i}x`, 'snapshot', String(i + 1)))),
    );
    expect((await store.read()).jobs).toHaveLength(30);
  });
});

describe('the Schedule endpoint semantics', () => {
  it('adds with minutes, pauses, resumes, and deletes with 0, "0" or "delete"', async () => {
    await request({ Name: 'v1', Action: 'snapshot', Timer: 60 });
    await request({ Name: 'v1', Action: 'replicate:h1', Timer: '120' });
    await request({ Name: 'v2', Action: 'snapshot', Timer: '5' });
    await request({ Name: 'v1', Action: 'snapshot', Timer: 'pause' });
    expect(await read()).toBe(
      'v1,snapshot,60,False\r\nv1,replicate:h1,120,True\r\nv2,snapshot,5,True\r\n',
    );
    await request({ Name: 'v1', Action: 'snapshot', Timer: 'resume' });
    await request({ Name: 'v1', Action: 'snapshot', Timer: 0 });
    await request({ Name: 'v1', Action: 'replicate:h1', Timer: '0' });
    await request({ Name: 'v2', Action: 'snapshot', Timer: 'delete' });
    expect(await read()).toBe('');
  });

  it.each([
    [{ Name: '../x', Action: 'snapshot', Timer: 60 }],
    [{ Name: 'v1', Action: 'rm -rf', Timer: 60 }],
    [{ Name: 'v1', Action: 'snapshot', Timer: -1 }],
    [{ Name: 'v1', Action: 'snapshot', Timer: 'often' }],
    [{ Name: 'v1', Action: 'replicate:-oProxyCommand=x', Timer: 60 }],
    [{ Name: 'v1', Action: 'snapshot' }],
    [{ Name: 'v1', Action: 'snapshot', Timer: 'pause' }],
    [{ Name: '', Action: 'snapshot', Timer: 'delete' }],
    [{ Name: 'v1', Action: ['snapshot'], Timer: 0 }],
    [[]],
    [null],
    ['{"Name":'],
  ])('refuses %j and creates nothing', async (body) => {
    await expect(request(body)).rejects.toMatchObject({
      code: expect.stringMatching(/INVALID_JOB|JOB_NOT_FOUND/),
    });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('global pause', () => {
  it('renames the file to .disabled and back, and refuses changes meanwhile (as 3.x)', async () => {
    await store.upsert(job('v1', 'snapshot'));
    await store.pause();
    expect(await readdir(join(dir, 'etc'))).toEqual(['schedule.csv.disabled']);
    const paused = await store.read();
    expect(paused.paused).toBe(true);
    expect(paused.jobs).toHaveLength(1);
    const error = await store.upsert(job('v2', 'snapshot')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulePausedError);
    expect((error as Error).message).toBe('Schedule is globally paused');
    await store.pause(); // again: nothing to do
    await store.resume();
    expect(await readdir(join(dir, 'etc'))).toEqual(['schedule.csv']);
    expect(await read()).toBe('v1,snapshot,60,True\r\n');
    await store.resume(); // again: nothing to do
    expect((await store.read()).paused).toBe(false);
  });

  it('makes a pause stick even before any job exists', async () => {
    await store.pause();
    expect((await store.read()).paused).toBe(true);
    await expect(store.upsert(job('v1', 'snapshot'))).rejects.toBeInstanceOf(SchedulePausedError);
    await store.resume();
    expect((await store.read()).paused).toBe(false);
    expect(await read()).toBe('');
  });

  it('never overwrites one file with the other when both exist', async () => {
    await store.upsert(job('v1', 'snapshot'));
    await writeFile(`${path}.disabled`, 'old,snapshot,60,True\r\n');
    expect((await store.read()).paused).toBe(true);
    await expect(store.resume()).rejects.toBeInstanceOf(ScheduleStoreError);
    await expect(store.pause()).rejects.toBeInstanceOf(ScheduleStoreError);
    expect(await read()).toBe('v1,snapshot,60,True\r\n');
    expect(await readFile(`${path}.disabled`, 'utf8')).toBe('old,snapshot,60,True\r\n');
  });
});

describe('atomic writes', () => {
  it('leaves the old file intact when the write stops before the rename (crash)', async () => {
    await store.upsert(job('v1', 'snapshot'));
    const before = await read();
    const target = join(dir, 'etc', 'schedule.csv');
    let sawTemp = '';
    const crash = writeFileAtomic(target, 'v2,snapshot,60,True\r\n', {
      beforeRename: async (temp) => {
        sawTemp = await readFile(temp, 'utf8');
        // The crash point: the new content is on disk in the temp file only.
        expect(await readFile(target, 'utf8')).toBe(before);
        expect((await store.read()).jobs.map((j) => j.volume)).toEqual(['v1']);
        throw new Error('power cut');
      },
    });
    await expect(crash).rejects.toThrow('power cut');
    expect(sawTemp).toBe('v2,snapshot,60,True\r\n');
    expect(await read()).toBe(before);
  });

  it('ignores a temp file left by a crash and keeps the file mode', async () => {
    await store.upsert(job('v1', 'snapshot'));
    await writeFile(join(dir, 'etc', '.schedule.csv.123.abc.tmp'), 'garbage,,,');
    const { chmod } = await import('node:fs/promises');
    await chmod(path, 0o600);
    await store.upsert(job('v2', 'snapshot'));
    expect((await store.read()).jobs.map((j) => j.volume)).toEqual(['v1', 'v2']);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});

// Operators keep /etc files in configuration management and link them into place: the daemon's
// rewrites go through the link (it stays a link, its target gets the content).
describe('a symlinked schedule.csv or state file', () => {
  it('is written through the link: the link stays, the target holds the rows', async () => {
    const managed = join(dir, 'managed', 'buttervolume-schedule.csv');
    await mkdir(dirname(managed), { recursive: true });
    await mkdir(dirname(path), { recursive: true });
    await writeFile(managed, 'old,snapshot,60,True\r\n');
    await symlink('../managed/buttervolume-schedule.csv', path);
    await store.upsert(job('v1', 'snapshot'));
    await store.setActive('old', 'snapshot', false);
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect(await readlink(path)).toBe('../managed/buttervolume-schedule.csv');
    expect(await readFile(managed, 'utf8')).toBe(
      'old,snapshot,60,False\r\nv1,snapshot,60,True\r\n',
    );
    // No temp file left beside the link or the target.
    expect(await readdir(dirname(path))).toEqual(['schedule.csv']);
    expect(await readdir(dirname(managed))).toEqual(['buttervolume-schedule.csv']);
  });

  it('follows a chain of links, and a dangling one creates its target', async () => {
    const managed = join(dir, 'managed', 'schedule.csv');
    await mkdir(dirname(managed), { recursive: true });
    await mkdir(dirname(path), { recursive: true });
    await symlink(join(dir, 'middle.csv'), path);
    await symlink(managed, join(dir, 'middle.csv'));
    await store.upsert(job('v1', 'snapshot'));
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect((await lstat(join(dir, 'middle.csv'))).isSymbolicLink()).toBe(true);
    expect(await readFile(managed, 'utf8')).toBe('v1,snapshot,60,True\r\n');
  });

  it('a link loop is a clear store error and changes nothing', async () => {
    await mkdir(dirname(path), { recursive: true });
    await symlink(join(dir, 'b.csv'), path);
    await symlink(path, join(dir, 'b.csv'));
    await expect(store.upsert(job('v1', 'snapshot'))).rejects.toBeInstanceOf(ScheduleStoreError);
    expect(await readlink(path)).toBe(join(dir, 'b.csv'));
  });

  it('pause and resume move the link itself; writes after resume still reach the target', async () => {
    const managed = join(dir, 'schedule-managed.csv');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(managed, 'v1,snapshot,60,True\r\n');
    await symlink(managed, path);
    await store.pause();
    expect((await lstat(`${path}.disabled`)).isSymbolicLink()).toBe(true);
    expect((await store.read()).paused).toBe(true);
    await store.resume();
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    await store.upsert(job('v2', 'snapshot'));
    expect(await readFile(managed, 'utf8')).toBe('v1,snapshot,60,True\r\nv2,snapshot,60,True\r\n');
  });

  it('the state file next to it is written through its link too', async () => {
    const statePath = defaultStatePath(path);
    const managed = join(dir, 'state-managed.json');
    await mkdir(dirname(path), { recursive: true });
    await symlink(managed, statePath);
    await saveStates(statePath, new Map([[jobKey('v1', 'snapshot'), { lastSuccess: 1000 }]]));
    expect((await lstat(statePath)).isSymbolicLink()).toBe(true);
    const loaded = await loadStates(statePath);
    expect(loaded.jobs.get(jobKey('v1', 'snapshot'))?.lastSuccess).toBe(1000);
    expect(JSON.parse(await readFile(managed, 'utf8')).jobs[0].name).toBe('v1');
  });
});

describe('temp files a killed daemon left', () => {
  it('are removed at start: another pid’s only, the state file’s too; other files stay', async () => {
    await store.upsert(job('v1', 'snapshot'));
    const etc = dirname(path);
    const dead = [
      '.schedule.csv.4242.0123456789ab.tmp',
      '.schedule.csv.state.json.4242.ba9876543210.tmp',
    ];
    const ours = `.schedule.csv.${process.pid}.0123456789ab.tmp`;
    const unrelated = ['.other.csv.4242.0123456789ab.tmp', 'schedule.csv.bak', 'notes.tmp'];
    for (const name of [...dead, ours, ...unrelated]) await writeFile(join(etc, name), 'x');
    expect((await store.removeLeftovers()).sort()).toEqual([...dead].sort());
    expect((await readdir(etc)).sort()).toEqual([ours, ...unrelated, 'schedule.csv'].sort());
    expect(await read()).toBe('v1,snapshot,60,True\r\n');
  });

  it('nothing to do without a folder yet', async () => {
    expect(await store.removeLeftovers()).toEqual([]);
  });
});
