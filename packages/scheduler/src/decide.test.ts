import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dueJobs, isDue, nextRun, timerPeriodMs } from './decide.js';
import { type Job, type JobKey, parseJob, parseTimer } from './job.js';
import type { JobState } from './state.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 24, 19, 13, 40);
const at = (ms: number) => new Date(ms);
const job = (timer: string | number, active = 'True', name = 'v1', action = 'snapshot') =>
  parseJob({ Name: name, Action: action, Timer: timer, Active: active });
const success = (ms: number): JobState => ({
  lastAttempt: ms,
  lastSuccess: ms,
  lastOutcome: 'success',
});

describe('interval jobs', () => {
  it('runs a job never run before on the first pass', () => {
    expect(isDue(job(60), undefined, at(T0))).toBe(true);
    expect(isDue(job(60), { firstSeen: T0 - 1 }, at(T0))).toBe(true);
  });

  it('is never due before its interval since the last success, always due after', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 525_600 }),
        fc.integer({ min: 0, max: 10 * 525_600 * MIN }),
        (minutes, elapsed) => {
          const due = isDue(job(minutes), success(T0), at(T0 + elapsed));
          expect(due).toBe(elapsed >= minutes * MIN);
        },
      ),
    );
  });

  it('retries a failed job at its next period, not at every pass', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 * MIN }),
        fc.integer({ min: 0, max: 20_000 * MIN }),
        (minutes, sinceSuccess, elapsed) => {
          const state: JobState = {
            lastSuccess: T0 - sinceSuccess,
            lastAttempt: T0,
            lastOutcome: 'failure',
          };
          const due = isDue(job(minutes), state, at(T0 + elapsed));
          expect(due).toBe(elapsed >= minutes * MIN);
          // and so never before its interval since the last success either
          if (due) expect(T0 + elapsed - state.lastSuccess!).toBeGreaterThanOrEqual(minutes * MIN);
        },
      ),
    );
  });

  it('runs a job missed for many periods while down once, then resumes its rhythm', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1440 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1440 * MIN }),
        (minutes, missed, extra) => {
          const j = job(minutes);
          const restart = T0 + missed * minutes * MIN + extra;
          expect(isDue(j, success(T0), at(restart))).toBe(true);
          // it ran at restart: not again until one interval later, whatever was missed
          const after = success(restart);
          expect(isDue(j, after, at(restart + minutes * MIN - 1))).toBe(false);
          expect(isDue(j, after, at(restart + minutes * MIN))).toBe(true);
        },
      ),
    );
  });

  it('does not trust a last run later than now (clock set back): the job is due', () => {
    expect(isDue(job(60), success(T0 + 3600_000), at(T0))).toBe(true);
  });

  it('simulated passes: each run is at least one interval and at most interval + TIMER apart', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 180 }),
        fc.integer({ min: 1, max: 600 }),
        (minutes, timerSeconds) => {
          const j = job(minutes);
          let state: JobState | undefined;
          const runs: number[] = [];
          for (let now = T0; now < T0 + 20 * minutes * MIN; now += timerSeconds * 1000) {
            if (isDue(j, state, at(now))) {
              runs.push(now);
              state = success(now);
            }
          }
          expect(runs[0]).toBe(T0);
          for (let i = 1; i < runs.length; i += 1) {
            const gap = runs[i]! - runs[i - 1]!;
            expect(gap).toBeGreaterThanOrEqual(minutes * MIN);
            expect(gap).toBeLessThan(minutes * MIN + timerSeconds * 1000);
          }
        },
      ),
    );
  });
});

describe('cron jobs', () => {
  // Local time, as cron and 3.x's timestamps are.
  const local = (day: number, hour: number, minute = 0) =>
    new Date(2026, 0, day, hour, minute).getTime();
  const daily = job('30 2 * * *');

  it('waits for its first cron time after it was added', () => {
    const state: JobState = { firstSeen: local(1, 14) };
    expect(isDue(daily, state, at(local(1, 23)))).toBe(false);
    expect(nextRun(daily, state, at(local(1, 23)))).toEqual(at(local(2, 2, 30)));
    expect(isDue(daily, state, at(local(2, 2, 30)))).toBe(true);
  });

  it('runs once per cron time, and once after being down across several', () => {
    const ran = success(local(2, 2, 30));
    expect(isDue(daily, ran, at(local(2, 2, 31)))).toBe(false);
    expect(isDue(daily, ran, at(local(3, 2, 29)))).toBe(false);
    expect(isDue(daily, ran, at(local(3, 2, 30)))).toBe(true);
    // down from day 2 to day 6 at 05:00: due once
    const restart = local(6, 5);
    expect(isDue(daily, ran, at(restart))).toBe(true);
    expect(isDue(daily, success(restart), at(local(7, 2, 29)))).toBe(false);
    expect(nextRun(daily, success(restart), at(restart))).toEqual(at(local(7, 2, 30)));
  });

  it('retries a failed cron run at its next cron time', () => {
    const failed: JobState = { lastAttempt: local(2, 2, 30), lastOutcome: 'failure' };
    expect(isDue(daily, failed, at(local(2, 23)))).toBe(false);
    expect(isDue(daily, failed, at(local(3, 2, 30)))).toBe(true);
  });
});

describe('dueJobs', () => {
  it('skips paused jobs and lists the due ones most overdue first', () => {
    const a = job(60, 'True', 'aa');
    const b = job(10, 'True', 'bb');
    const c = job(5, 'False', 'cc');
    const d = job(60, 'True', 'dd');
    const states = new Map<JobKey, JobState>([
      [a.key, success(T0 - 61 * MIN)], // due since 1 min
      [b.key, success(T0 - 30 * MIN)], // due since 20 min
      [d.key, success(T0)], // not due
    ]);
    const due: Job[] = dueJobs([a, b, c, d], states, at(T0));
    expect(due.map((j) => j.volume)).toEqual(['bb', 'aa']);
    expect(nextRun(c, undefined, at(T0))).toBeNull();
  });

  it('a restart with persisted state re-runs nothing that ran within its interval', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 1440 }), fc.nat({ max: 1439 })), {
          minLength: 1,
          maxLength: 50,
        }),
        (specs) => {
          const jobs = specs.map(([minutes], i) => job(minutes, 'True', `v${i}x`));
          const states = new Map<JobKey, JobState>();
          // each ran `ago` minutes before the restart, less than its interval
          specs.forEach(([minutes, ago], i) => {
            states.set(jobs[i]!.key, success(T0 - (ago % minutes) * MIN));
          });
          const restored = new Map(JSON.parse(JSON.stringify([...states])) as [JobKey, JobState][]);
          expect(dueJobs(jobs, restored, at(T0))).toEqual([]);
        },
      ),
    );
  });
});

describe('timerPeriodMs', () => {
  const from = new Date(Date.UTC(2026, 10, 24, 12, 0, 0));
  it('is the interval of a minutes timer', () => {
    expect(timerPeriodMs(parseTimer('90'), from)).toBe(90 * 60_000);
  });
  it('is the widest gap of a cron timer: a daily job is a day, a weekday job three at the weekend', () => {
    expect(timerPeriodMs(parseTimer('30 2 * * *'), from)).toBe(24 * 3600_000);
    expect(timerPeriodMs(parseTimer('0 2 * * 1-5'), from)).toBe(3 * 24 * 3600_000);
    expect(timerPeriodMs(parseTimer('*/15 * * * *'), from)).toBe(15 * 60_000);
  });
});
