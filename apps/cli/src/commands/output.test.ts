import { describe, expect, it } from 'vitest';
import { purgeReport } from './purge.js';
import { scheduleLine, scheduleTable } from './scheduled.js';
import { progressLine, sendSummary } from './send.js';
import { describeSnapshot, snapshotTable } from './snapshots.js';

const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';

describe('scheduled output', () => {
  it('prints COMPAT lines: <action> <timer> <volume>, (paused) after a paused job', () => {
    expect(scheduleLine({ Name: 'pgdata', Action: 'snapshot', Timer: '60', Active: 'True' })).toBe(
      'snapshot 60 pgdata',
    );
    expect(
      scheduleLine({ Name: 'pgdata', Action: 'synchronize:h1,h2', Timer: 120, Active: 'False' }),
    ).toBe('synchronize:h1,h2 120 pgdata (paused)');
  });

  it('adds last run, outcome and next run columns in the table', () => {
    const table = scheduleTable([
      {
        Name: 'pgdata',
        Action: 'snapshot',
        Timer: '60',
        Active: 'True',
        LastRun: null,
        LastOutcome: null,
        NextRun: new Date(2026, 0, 2, 3, 4).toISOString(),
      },
      {
        Name: 'web',
        Action: 'purge:1h:1d',
        Timer: '30 2 * * *',
        Active: 'False',
        LastOutcome: 'error: boom',
      },
    ]).split('\n');
    expect(table[0]).toMatch(/^ACTION\s+TIMER\s+VOLUME\s+LAST RUN\s+OUTCOME\s+NEXT RUN$/);
    expect(table[1]).toMatch(/^snapshot\s+60\s+pgdata\s+-\s+-\s+2026-01-02 03:04$/);
    expect(table[2]).toMatch(
      /^purge:1h:1d\s+30 2 \* \* \*\s+web\s+\(paused\)\s+-\s+error: boom\s+-$/,
    );
  });
});

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
