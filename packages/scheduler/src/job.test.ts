import { describe, expect, it } from 'vitest';
import { InvalidJobError } from './errors.js';
import { formatAction, formatTimer, jobVolumes, parseJob, parseTimer } from './job.js';

const row = (Name: unknown, Action: unknown, Timer: unknown = '60', Active: unknown = 'True') => ({
  Name,
  Action,
  Timer,
  Active,
});

function refusal(raw: ReturnType<typeof row>): InvalidJobError {
  try {
    parseJob(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidJobError);
    return error as InvalidJobError;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('parseJob', () => {
  it('reads the four 3.x actions and gives back their text', () => {
    for (const action of [
      'snapshot',
      'replicate:backup-1',
      'replicate:10.0.0.2',
      'purge:4h:1w:1y',
      'synchronize:h1,h2',
      'purge:2h',
      'purge:daily=7,weekly=4,monthly=12,min=1d',
    ]) {
      const job = parseJob(row('foovolume', action));
      expect(job.actionText).toBe(action);
      expect(formatAction(job.action)).toBe(action);
      expect(job.volume).toBe('foovolume');
    }
    const sync = parseJob(row('v1', 'synchronize:h1,h2'));
    expect(sync.action).toEqual({ kind: 'synchronize', hosts: ['h1', 'h2'] });
    // Spaces around the hosts are trimmed, as in a volume's replicas= list.
    const spaced = parseJob(row('v1', 'synchronize:h1, h2'));
    expect(spaced.action).toEqual({ kind: 'synchronize', hosts: ['h1', 'h2'] });
    const purge = parseJob(row('v1', 'purge:1d:4h'));
    expect(
      purge.action.kind === 'purge' &&
        purge.action.pattern.kind === 'pattern' &&
        purge.action.pattern.items.map((i) => i.minutes),
    ).toEqual([240, 1440]);
  });

  it('reads the skip-unchanged and host-purge variants, and gives back their text', () => {
    for (const action of [
      'snapshot:skip-unchanged',
      'replicate:backup-1,skip-unchanged',
      'replicate:backup-1,purge=4h:1d:2w',
      'replicate:backup-1,skip-unchanged,purge=daily=7,weekly=4,min=1d',
    ]) {
      const job = parseJob(row('v1', action));
      expect(job.actionText).toBe(action);
      expect(formatAction(job.action)).toBe(action);
    }
    expect(parseJob(row('v1', 'snapshot:skip-unchanged')).action).toEqual({
      kind: 'snapshot',
      skipUnchanged: true,
    });
    const purging = parseJob(row('v1', 'replicate:b1,purge=daily=7,weekly=4')).action;
    expect(purging.kind === 'replicate' && purging.hostPurge?.kind).toBe('calendar');
    expect(purging.kind === 'replicate' && purging.skipUnchanged).toBeFalsy();
    // The 3.x forms stay what they were: no option set.
    expect(parseJob(row('v1', 'snapshot')).action).toEqual({ kind: 'snapshot' });
    expect(parseJob(row('v1', 'replicate:b1')).action).toEqual({ kind: 'replicate', host: 'b1' });
  });

  it.each([
    ['snapshot:skip-unchanged,x', /use snapshot or snapshot:skip-unchanged/],
    ['replicate:b1,keep=1d', /replicate:<host>\[,skip-unchanged\]/],
    ['replicate:b1,skip-unchanged,skip-unchanged', /unknown replicate option/],
    ['replicate:-oProxyCommand=x,purge=1d', /host/i],
    ['replicate:$(touch /tmp/p),skip-unchanged', /host/i],
    ['replicate:b1,purge=', /purge|pattern|policy/i],
    ['replicate:b1,purge=4x', /pattern|policy/i],
    ['replicate:b1,purge=4h,daily=7', /policy|pattern|mix/i],
    ['replicate:b1,purge=1d,skip-unchanged', /policy|pattern/i],
  ])('refuses %j with the valid form', (action, reason) => {
    const error = refusal(row('v1', action));
    expect(error.field).toBe('Action');
    expect(error.message).toMatch(reason);
  });

  it('reads group jobs: more volumes or a compose project, and a host for group-replicate', () => {
    for (const action of [
      'group-snapshot:uploads,cache',
      'group-snapshot:project=shop',
      'group-replicate:uploads:backup-1',
      'group-replicate:project=shop:10.0.0.2',
      'group-replicate:uploads:fd00::2',
    ]) {
      expect(parseJob(row('pgdata', action)).actionText).toBe(action);
    }
    expect(parseJob(row('pgdata', 'group-snapshot:uploads,cache')).action).toEqual({
      kind: 'group-snapshot',
      members: { kind: 'volumes', volumes: ['uploads', 'cache'] },
    });
    expect(parseJob(row('pgdata', 'group-replicate:project=shop:backup-1')).action).toEqual({
      kind: 'group-replicate',
      members: { kind: 'project', project: 'shop' },
      host: 'backup-1',
    });
  });

  it('names every volume a job protects: a group job each of its members, once', () => {
    expect(jobVolumes(parseJob(row('pgdata', 'snapshot')))).toEqual(['pgdata']);
    expect(jobVolumes(parseJob(row('pgdata', 'replicate:backup-1')))).toEqual(['pgdata']);
    expect(jobVolumes(parseJob(row('pgdata', 'group-snapshot:uploads,pgdata,cache')))).toEqual([
      'pgdata',
      'uploads',
      'cache',
    ]);
    expect(jobVolumes(parseJob(row('pgdata', 'group-replicate:uploads:backup-1')))).toEqual([
      'pgdata',
      'uploads',
    ]);
    const project = parseJob(row('pgdata', 'group-snapshot:project=shop'));
    // Without Docker's answer, only the Name column is known.
    expect(jobVolumes(project)).toEqual(['pgdata']);
    const seen = (name: string) => (name === 'shop' ? ['media', 'pgdata'] : []) as never[];
    expect(jobVolumes(project, seen)).toEqual(['pgdata', 'media']);
  });

  it('reads Active as 3.x wrote it: True, False, or nothing for old rows', () => {
    expect(parseJob(row('v1', 'snapshot', '60', 'True')).active).toBe(true);
    expect(parseJob(row('v1', 'snapshot', '60', 'False')).active).toBe(false);
    expect(parseJob(row('v1', 'snapshot', '60', '')).active).toBe(true);
    expect(parseJob({ Name: 'v1', Action: 'snapshot', Timer: '60' }).active).toBe(true);
    expect(refusal(row('v1', 'snapshot', '60', 'maybe')).field).toBe('Active');
  });

  it.each([
    ['../x', 'Name'],
    ['a/b', 'Name'],
    ['-rf', 'Name'],
    ['$(touch /tmp/p)', 'Name'],
    ['a"b', 'Name'],
    ["a'b", 'Name'],
    ['x'.repeat(300), 'Name'],
    ['', 'Name'],
    [42, 'Name'],
    [null, 'Name'],
  ])('refuses the volume name %j', (name, field) => {
    const error = refusal(row(name, 'snapshot'));
    expect(error.field).toBe(field);
    expect(error.code).toBe('INVALID_JOB');
  });

  it.each([
    'rm -rf',
    'snapshot:x',
    'replicate:',
    'replicate:-oProxyCommand=x',
    'replicate:user@host',
    'replicate:$(touch /tmp/p)',
    'replicate:h1,h2',
    'purge:',
    'purge:60m:plop:3000m',
    'purge:4x',
    'purge:daily=0',
    'purge:4h,daily=7',
    'purge:monthly',
    'synchronize:',
    'synchronize:h1,,h2',
    'synchronize:h1,-oProxyCommand=x',
    'SNAPSHOT',
    '',
    'group-snapshot:',
    'group-snapshot:../x',
    'group-snapshot:a,,b',
    'group-snapshot:project=Shop',
    'group-snapshot:project=$(touch /tmp/p)',
    'group-replicate:uploads',
    'group-replicate:uploads:',
    'group-replicate:uploads:-oProxyCommand=x',
    'group-replicate::backup-1',
  ])('refuses the action %j and says why', (action) => {
    const error = refusal(row('v1', action));
    expect(error.field).toBe('Action');
    expect(error.message).toMatch(/^Invalid scheduled job: Action/);
  });

  it('says "Invalid purge pattern" for a bad pattern', () => {
    expect(refusal(row('v1', 'purge:60m:plop:3000m')).message).toMatch(/Invalid purge pattern/);
  });

  it.each([
    ['-1'],
    ['0'],
    ['abc'],
    ['1.5'],
    [' 60'],
    [0],
    [-5],
    [1.5],
    [Number.NaN],
    [null],
    [true],
    [''],
    ['* * * *'],
    ['61 * * * *'],
    ['* * * * * *'],
    ['99999999999999999'],
  ])('refuses the timer %j', (timer) => {
    expect(refusal(row('v1', 'snapshot', timer)).field).toBe('Timer');
  });
});

describe('parseTimer', () => {
  it('reads minutes as digits or a JSON number', () => {
    expect(parseTimer('60')).toEqual({ kind: 'interval', minutes: 60 });
    expect(parseTimer(1440)).toEqual({ kind: 'interval', minutes: 1440 });
    expect(formatTimer(parseTimer('060'))).toBe('60');
  });

  it('reads a 5-field cron expression and keeps its text', () => {
    const timer = parseTimer('30 2 * * *');
    expect(timer.kind).toBe('cron');
    expect(formatTimer(timer)).toBe('30 2 * * *');
    const next = timer.kind === 'cron' ? timer.cron.nextRun(new Date(2026, 0, 1, 12, 0)) : null;
    expect(next).toEqual(new Date(2026, 0, 2, 2, 30));
  });
});
