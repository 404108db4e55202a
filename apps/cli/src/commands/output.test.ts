import { describe, expect, it } from 'vitest';
import { purgeReport } from './purge.js';
import { restoreSummary } from './restore.js';
import { outcomeOf, scheduleLine, scheduleTable, shellWord } from './scheduled.js';
import { progressLine, sendSummary } from './send.js';
import { describeSnapshot, snapshotTable } from './snapshots.js';

const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';

describe('scheduled output', () => {
  it('prints COMPAT lines: <action> <timer> <volume>, (paused) after a paused job', () => {
    expect(scheduleLine({ Name: 'pgdata', Action: 'snapshot', Timer: '60', Active: 'True' })).toBe(
      'snapshot 60 pgdata',
    );
    expect(
      scheduleLine({ Name: 'pgdata', Action: 'synchronize:h1,h2', Timer: '120', Active: 'False' }),
    ).toBe('synchronize:h1,h2 120 pgdata (paused)');
    // A replicate job's host purge shows as written, pasteable back (no quoting needed).
    const action = 'replicate:backup1,purge=daily=7,weekly=4';
    const line = scheduleLine({ Name: 'pgdata', Action: action, Timer: '1440', Active: 'True' });
    expect(line).toBe(`${action} 1440 pgdata`);
    expect(shellSplit(line)).toEqual([action, '1440', 'pgdata']);
  });

  it('single-quotes a cron timer, so the line can be pasted back after `buttervolume schedule`', () => {
    const line = scheduleLine({
      Name: 'uploads',
      Action: 'snapshot',
      Timer: '30 2 * * *',
      Active: 'False',
    });
    expect(line).toBe("snapshot '30 2 * * *' uploads (paused)");
    // What a POSIX shell would split that line into, without running one.
    expect(shellSplit(line.replace(/ \(paused\)$/, ''))).toEqual([
      'snapshot',
      '30 2 * * *',
      'uploads',
    ]);
  });

  it.each([
    ['30 2 * * *', "'30 2 * * *'"],
    ["it's", `'it'\\''s'`],
    ['$(touch /tmp/p)', "'$(touch /tmp/p)'"],
    ['', "''"],
    ['replicate:10.0.0.3', 'replicate:10.0.0.3'],
    ['purge:4h:1d:2w:2y', 'purge:4h:1d:2w:2y'],
  ])('shellWord(%j) is %s, which a shell reads back unchanged', (text, quoted) => {
    expect(shellWord(text)).toBe(quoted);
    expect(shellSplit(shellWord(text))).toEqual([text]);
  });

  it('shows an invalid schedule.csv row with its reason, not as a blank paused line', () => {
    expect(
      scheduleLine({
        Name: 'pgdata',
        Action: 'purge:4x',
        Timer: '60',
        Active: 'False',
        Invalid: 'Invalid purge pattern "4x": unknown unit "x"',
        Line: 3,
      }),
    ).toBe('purge:4x 60 pgdata (invalid: Invalid purge pattern "4x": unknown unit "x")');
    expect(
      scheduleLine({
        Name: '',
        Action: '',
        Timer: '',
        Active: 'False',
        Invalid: 'expected Name,Action,Timer,Active: garbage',
        Line: 7,
      }),
    ).toBe('schedule.csv line 7 (invalid): expected Name,Action,Timer,Active: garbage');
  });

  it.each([
    [
      { LastOutcome: 'ok', LastError: null },
      { word: 'ok', message: undefined },
    ],
    [
      { LastOutcome: 'error', LastError: 'ssh: refused' },
      { word: 'error', message: 'ssh: refused' },
    ],
    [{ LastOutcome: 'error' }, { word: 'error', message: undefined }],
    [
      { LastOutcome: null, LastError: null },
      { word: '-', message: undefined },
    ],
    [{}, { word: '-', message: undefined }],
  ] as const)('reads the outcome %j', (fields, outcome) => {
    const job = { Name: 'v', Action: 'snapshot', Timer: '60', Active: 'True' as const, ...fields };
    expect(outcomeOf(job)).toEqual(outcome);
  });

  it('adds last run, outcome and next run columns in the table, then errors and invalid rows', () => {
    const table = scheduleTable([
      {
        Name: 'pgdata',
        Action: 'snapshot',
        Timer: '60',
        Active: 'True',
        LastRun: new Date(2026, 0, 2, 2, 4).toISOString(),
        LastOutcome: 'ok',
        NextRun: new Date(2026, 0, 2, 3, 4).toISOString(),
      },
      {
        Name: 'web',
        Action: 'purge:1h:1d',
        Timer: '30 2 * * *',
        Active: 'False',
        LastOutcome: 'error',
        LastError: 'boom',
      },
      {
        Name: 'db',
        Action: 'replicate:backup-1',
        Timer: '1440',
        Active: 'True',
        LastRun: null,
        LastOutcome: 'error',
        LastError: 'ssh: connection refused',
        NextRun: null,
      },
      {
        Name: 'old',
        Action: 'purge:4x',
        Timer: '60',
        Active: 'False',
        Invalid: 'Invalid purge pattern "4h"',
        Line: 4,
      },
    ]).split('\n');
    expect(table[0]).toMatch(/^ACTION\s+TIMER\s+VOLUME\s+LAST RUN\s+OUTCOME\s+NEXT RUN$/);
    expect(table[1]).toMatch(/^snapshot\s+60\s+pgdata\s+2026-01-02 02:04\s+ok\s+2026-01-02 03:04$/);
    expect(table[2]).toMatch(/^purge:1h:1d\s+'30 2 \* \* \*'\s+web\s+\(paused\)\s+-\s+error\s+-$/);
    expect(table[3]).toMatch(/^replicate:backup-1\s+1440\s+db\s+-\s+error\s+-$/);
    expect(table[4]).toMatch(/^purge:4x\s+60\s+old\s+\(invalid\)\s+-\s+-\s+never$/);
    expect(table.slice(5)).toEqual([
      '',
      'Last errors:',
      "  purge:1h:1d '30 2 * * *' web: boom",
      '  replicate:backup-1 1440 db: ssh: connection refused',
      '',
      'Invalid rows (they never run; fix them in schedule.csv or remove them with',
      '`buttervolume schedule <action> delete <volume>`):',
      '  schedule.csv line 4: Invalid purge pattern "4h"',
    ]);
  });
});

/** Splits a line into words the way a POSIX shell does for plain words and '…' quoting. */
function shellSplit(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i] ?? '';
    if (char === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated quote in ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close;
    } else if (char === '\\') {
      word = (word ?? '') + (line[i + 1] ?? '');
      i += 1;
    } else {
      if (/[$`"*?;&|<>()]/.test(char)) throw new Error(`unquoted special ${char} in ${line}`);
      word = (word ?? '') + char;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

describe('snapshots output', () => {
  const now = new Date(2026, 10, 24, 21, 18, 41);

  it('shows name, volume and age, oldest first per volume', () => {
    const rows = [
      'pgdata@2026-11-24T19:13:40.123456',
      'pgdata@2026-11-22T21:18:40.000000',
      'cache@2026-11-24T21:18:00.000000',
      'pgdata@2026-11-24T19:13:40.123456@backup-1',
      'stray',
    ].map((name) => describeSnapshot(name, FORMAT));
    expect(snapshotTable(rows, now).split('\n')).toEqual([
      'SNAPSHOT                                    VOLUME  AGE',
      'cache@2026-11-24T21:18:00.000000            cache   41s',
      'pgdata@2026-11-22T21:18:40.000000           pgdata  2d',
      'pgdata@2026-11-24T19:13:40.123456           pgdata  2h 5m',
      'pgdata@2026-11-24T19:13:40.123456@backup-1  pgdata  2h 5m  send marker: backup-1 holds it',
      'stray                                       stray   ?',
    ]);
  });
});

describe('purge output', () => {
  it('says what a dry run would delete and why', () => {
    const text = purgeReport(
      {
        Err: '',
        Purged: ['v1@a'],
        Decisions: [
          { Name: 'v1@a', Action: 'purge', Reason: 'older than 2y' },
          { Name: 'v1@b', Action: 'keep', Reason: 'younger than 4h' },
        ],
      },
      'v1',
      true,
    );
    expect(text.split('\n')).toEqual([
      'Would purge 1 snapshot(s) of v1 and keep 1 (dry run: nothing deleted).',
      'would purge  v1@a  older than 2y',
      'keep         v1@b  younger than 4h',
    ]);
  });

  it('names the host when its copies were purged', () => {
    const answer = {
      Err: '',
      Purged: ['v1@a'],
      Decisions: [{ Name: 'v1@a', Action: 'purge' as const, Reason: 'purged: too old' }],
    };
    expect(purgeReport(answer, 'v1', false, 'backup1').split('\n')[0]).toBe(
      'Purged 1 copies of v1 on backup1, kept 0.',
    );
    expect(purgeReport(answer, 'v1', true, 'backup1').split('\n')[0]).toBe(
      'Would purge 1 copies of v1 on backup1 and keep 0 (dry run: nothing deleted).',
    );
  });

  it('lists purged names when the daemon gives no decisions', () => {
    expect(purgeReport({ Err: '', Purged: ['v1@a'], Decisions: [] }, 'v1', false)).toBe(
      'Purged 1 snapshot(s) of v1, kept 0.\nv1@a',
    );
  });
});

describe('send output', () => {
  it('summarises an incremental, a full and a no-op send', () => {
    const base = { Err: '', Bytes: 3 * 2 ** 20, DurationMs: 2000, AlreadyPresent: false };
    expect(sendSummary({ ...base, Incremental: true, Parent: 'v1@a' }, 'v1@b', 'h1')).toBe(
      'Sent v1@b to h1 (incremental from v1@a): 3.0 MiB in 2.0 s, 1.5 MiB/s',
    );
    expect(sendSummary({ ...base, Incremental: false, Parent: null }, 'v1@b', 'h1')).toContain(
      '(full)',
    );
    expect(
      sendSummary(
        { ...base, Incremental: false, Parent: null, AlreadyPresent: true },
        'v1@b',
        'h1',
      ),
    ).toBe('h1 already holds v1@b: nothing sent');
  });

  it('shows progress with bytes, rate and elapsed time', () => {
    expect(
      progressLine({
        Snapshot: 'v1@b',
        Host: 'h1',
        Bytes: 2 ** 30,
        ElapsedMs: 4000,
        RateBytesPerSec: 2 ** 28,
      }),
    ).toBe('sending v1@b to h1: 1.0 GiB, 256 MiB/s, 4.0 s');
  });
});

describe('restore output', () => {
  const snap = 'pgdata@2026-11-24T19:13:40.123456';

  it('names the backup of the replaced volume', () => {
    expect(
      restoreSummary(
        { Err: '', Restored: snap, VolumeBackup: 'pgdata@2026-11-24T21:18:41.000000' },
        snap,
        undefined,
      ),
    ).toBe(
      `Restored ${snap} into pgdata; its previous content is snapshot pgdata@2026-11-24T21:18:41.000000`,
    );
  });

  it('says the target is new when the daemon names no backup (it did not exist)', () => {
    const text = restoreSummary({ Err: '', Restored: snap }, snap, 'fresh');
    expect(text).toBe(
      `Restored ${snap} into fresh, a new volume (fresh did not exist: no backup was needed)`,
    );
    expect(text).not.toContain('undefined');
  });
});
