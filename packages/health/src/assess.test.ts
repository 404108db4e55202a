import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assess, verdictOf, verdictUntil, worst } from './assess.js';
import { checkReport, InvalidThresholdError, parseDuration, parseThresholds } from './check.js';
import type { JobFacts, SendFacts, Thresholds, Verdict, VolumeFacts } from './facts.js';

const MIN = 60_000;
const H = 60 * MIN;
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

function job(action: string, periodMs: number | null, extra: Partial<JobFacts> = {}): JobFacts {
  const [kind, argument] = action.split(/:(.*)/) as [JobFacts['kind'], string | undefined];
  return {
    action,
    kind,
    hosts: kind === 'replicate' || kind === 'synchronize' ? (argument ?? '').split(',') : [],
    timer: '60',
    periodMs,
    active: true,
    lastRun: NOW - 10 * MIN,
    lastOutcome: 'success',
    lastError: null,
    failures: 0,
    nextRun: NOW + 50 * MIN,
    ...extra,
  };
}

function sent(host: string, agoMs: number): SendFacts {
  return {
    host,
    lastSuccess: { at: NOW - agoMs, bytes: 1024, incremental: true, durationMs: 40 },
    lastFailure: null,
  };
}

function volume(extra: Partial<VolumeFacts> = {}): VolumeFacts {
  return {
    volume: 'pgdata',
    snapshots: 3,
    newestSnapshot: NOW - 10 * MIN,
    sends: [],
    jobs: [],
    schedulePaused: false,
    attention: null,
    ...extra,
  };
}

describe('assess', () => {
  it('is OK with fresh snapshots and sends, and says so', () => {
    const a = assess(
      volume({ jobs: [job('replicate:backup1', H)], sends: [sent('backup1', 10 * MIN)] }),
      NOW,
    );
    expect(a.verdict).toBe('OK');
    expect(a.reason).toBe('newest snapshot 10m old; sent to backup1 10m ago');
    expect(a.snapshotAge).toEqual({ ageMs: 10 * MIN, limits: { warnMs: 2 * H, critMs: 4 * H } });
  });

  it('derives limits from the schedule: WARN past 2 periods, CRIT past 4', () => {
    const jobs = [job('snapshot', H)];
    const at = (ageMs: number) => assess(volume({ jobs, newestSnapshot: NOW - ageMs }), NOW);
    expect(at(2 * H).verdict).toBe('OK');
    expect(at(2 * H + 1000).verdict).toBe('WARN');
    expect(at(2 * H + 1000).reason).toBe('newest snapshot 2h old (warn 2h)');
    expect(at(4 * H).verdict).toBe('WARN');
    expect(at(4 * H + 1000).verdict).toBe('CRIT');
    expect(at(5 * H).reason).toBe('newest snapshot 5h old (crit 4h)');
  });

  it('takes the shortest period of the jobs that make snapshots, purge not counted', () => {
    const jobs = [
      job('purge:1h:1d', 5 * MIN),
      job('snapshot', 60 * MIN),
      job('synchronize:a,b', 30 * MIN),
    ];
    expect(assess(volume({ jobs }), NOW).snapshotAge?.limits).toEqual({
      warnMs: 60 * MIN,
      critMs: 120 * MIN,
    });
  });

  it('holds each replication host to its own job and reports a stale one by name', () => {
    const jobs = [job('replicate:backup1', H), job('replicate:backup2', 24 * H)];
    const sends = [sent('backup1', 5 * H), sent('backup2', 5 * H)];
    const a = assess(volume({ jobs, sends }), NOW);
    expect(a.verdict).toBe('CRIT');
    expect(a.problems).toEqual([
      expect.objectContaining({ code: 'send-age', host: 'backup1', verdict: 'CRIT' }),
    ]);
    expect(a.reason).toBe('last send to backup1 5h ago (crit 4h)');
  });

  it('takes a skip-unchanged run as proof the newest snapshot and send are still current', () => {
    const skipped = { lastOutcome: 'skipped: unchanged' as const, lastRun: NOW - 10 * MIN };
    const jobs = [
      job('snapshot:skip-unchanged', H, skipped),
      job('replicate:backup1,skip-unchanged', H, { ...skipped, hosts: ['backup1'] }),
    ];
    const old = volume({ jobs, newestSnapshot: NOW - 72 * H, sends: [sent('backup1', 72 * H)] });
    const a = assess(old, NOW);
    expect(a.verdict).toBe('OK');
    expect(a.snapshotAge?.ageMs).toBe(10 * MIN);
    expect(a.sendAges[0]?.ageMs).toBe(10 * MIN);
    // A plain success says nothing about an old snapshot: that one is stale.
    const plain = jobs.map((j) => ({ ...j, lastOutcome: 'success' as const }));
    expect(assess({ ...old, jobs: plain }, NOW).verdict).toBe('CRIT');
  });

  it('reports a failing job and a paused one (WARN), never as fine', () => {
    const jobs = [
      job('replicate:backup1', H, {
        lastOutcome: 'failure',
        failures: 3,
        lastError: 'cannot connect to backup1 over ssh\n  ssh: refused',
      }),
      job('snapshot', H, { active: false }),
    ];
    const a = assess(volume({ jobs, sends: [sent('backup1', 30 * MIN)] }), NOW);
    expect(a.verdict).toBe('WARN');
    expect(a.reason).toBe(
      'replicate:backup1 failing, 3 times in a row: cannot connect to backup1 over ssh; snapshot paused',
    );
  });

  it('reports a paused schedule, and CRIT when a volume needs attention', () => {
    const paused = assess(volume({ jobs: [job('snapshot', H)], schedulePaused: true }), NOW);
    expect(paused).toMatchObject({ verdict: 'WARN', reason: 'schedule paused' });
    const attention = assess(volume({ attention: 'restore journal could not be completed' }), NOW);
    expect(attention).toMatchObject({
      verdict: 'CRIT',
      reason: 'needs attention: restore journal could not be completed',
    });
  });

  it('tells a first run still to come (WARN) from snapshots that never came (CRIT)', () => {
    const pending = job('snapshot', H, { lastRun: null, lastOutcome: null });
    expect(
      assess(volume({ jobs: [pending], newestSnapshot: null, snapshots: 0 }), NOW),
    ).toMatchObject({ verdict: 'WARN', reason: 'no snapshot yet (first run pending)' });
    expect(
      assess(volume({ jobs: [job('snapshot', H)], newestSnapshot: null, snapshots: 0 }), NOW),
    ).toMatchObject({ verdict: 'CRIT', reason: 'no snapshot' });
    const neverSent = assess(volume({ jobs: [job('replicate:b1', H)] }), NOW);
    expect(neverSent).toMatchObject({ verdict: 'CRIT', reason: 'never sent to b1' });
  });

  it('judges no age without a schedule or a threshold, and explicit limits win', () => {
    const old = volume({ newestSnapshot: NOW - 1000 * H, sends: [sent('b1', 1000 * H)] });
    expect(assess(old, NOW)).toMatchObject({
      verdict: 'OK',
      snapshotAge: null,
      reason: 'newest snapshot 41d 16h old; no scheduled job',
    });
    const limits = { warnMs: H, critMs: 2 * H };
    const strict = assess(old, NOW, { snapshot: limits, send: limits });
    expect(strict.verdict).toBe('CRIT');
    expect(strict.problems.map((p) => p.code)).toEqual(['snapshot-age', 'send-age']);
  });

  it('is never better than its worst problem, and OK exactly without problems (property)', () => {
    const jobArb = fc.record({
      kind: fc.constantFrom('snapshot', 'replicate', 'purge', 'synchronize'),
      period: fc.option(fc.integer({ min: MIN, max: 30 * 24 * H }), { nil: null }),
      active: fc.boolean(),
      failing: fc.boolean(),
      ran: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(jobArb, { maxLength: 5 }),
        fc.option(fc.integer({ min: 0, max: 400 * 24 * H }), { nil: null }),
        fc.array(fc.integer({ min: 0, max: 400 * 24 * H }), { maxLength: 2 }),
        fc.boolean(),
        fc.option(fc.string(), { nil: null }),
        (specs, snapshotAge, sendAges, schedulePaused, attention) => {
          const jobs = specs.map((s, i) =>
            job(
              s.kind === 'replicate'
                ? `replicate:h${i % 2}`
                : s.kind === 'synchronize'
                  ? 'synchronize:h0'
                  : s.kind === 'purge'
                    ? 'purge:1h:1d'
                    : 'snapshot',
              s.period,
              {
                active: s.active,
                lastOutcome: s.failing ? 'failure' : s.ran ? 'success' : null,
                lastRun: s.ran || s.failing ? NOW - MIN : null,
                failures: s.failing ? 1 : 0,
              },
            ),
          );
          const facts = volume({
            jobs,
            newestSnapshot: snapshotAge === null ? null : NOW - snapshotAge,
            sends: sendAges.map((age, i) => sent(`h${i}`, age)),
            schedulePaused,
            attention,
          });
          const a = assess(facts, NOW);
          expect(a.verdict).toBe(worst(a.problems.map((p) => p.verdict)));
          // The scrape's verdict without explanations is assess()'s, with or without limits.
          expect(verdictOf(facts, NOW)).toBe(a.verdict);
          const limits = { warnMs: H, critMs: 2 * H };
          const strict = { snapshot: limits, send: limits };
          expect(verdictOf(facts, NOW, strict)).toBe(assess(facts, NOW, strict).verdict);
          expect(a.verdict === 'OK').toBe(a.problems.length === 0);
          expect(a.reason.length).toBeGreaterThan(0);
          // A reused verdict holds until `until`; right after it an age passes a limit.
          const grades = (at: number, t: Thresholds) =>
            assess(facts, at, t).problems.map((p) => `${p.code}:${p.verdict}:${p.host ?? ''}`);
          for (const thresholds of [{}, strict]) {
            const { verdict, until } = verdictUntil(facts, NOW, thresholds);
            expect(verdict).toBe(verdictOf(facts, NOW, thresholds));
            expect(until).toBeGreaterThanOrEqual(NOW);
            const last = until === Number.POSITIVE_INFINITY ? NOW + 1000 * 24 * H : until;
            expect(verdictOf(facts, last, thresholds)).toBe(verdict);
            expect(grades(last, thresholds)).toEqual(grades(NOW, thresholds));
            if (until !== Number.POSITIVE_INFINITY) {
              expect(grades(until + 1, thresholds)).not.toEqual(grades(NOW, thresholds));
            }
          }
          if (attention !== null) expect(a.verdict).toBe('CRIT');
          if (jobs.some((j) => j.lastOutcome === 'failure' || !j.active)) {
            expect(a.verdict).not.toBe('OK');
          }
        },
      ),
    );
  });
});

describe('parseThresholds', () => {
  it('reads pairs of durations', () => {
    expect(
      parseThresholds({ snapshotWarn: '90m', snapshotCrit: '1d', sendWarn: '45s', sendCrit: '1w' }),
    ).toEqual({
      snapshot: { warnMs: 90 * MIN, critMs: 24 * H },
      send: { warnMs: 45_000, critMs: 7 * 24 * H },
    });
    expect(parseThresholds({})).toEqual({});
  });

  it.each([
    [{ snapshotWarn: '2h' }, '--snapshot-crit'],
    [{ snapshotWarn: 'abc', snapshotCrit: '1h' }, 'not a duration'],
    [{ sendWarn: '0h', sendCrit: '1h' }, 'not a duration'],
    [{ sendWarn: '-1h', sendCrit: '1h' }, 'not a duration'],
    [{ sendWarn: '2h', sendCrit: '1h' }, 'later than --send-crit'],
    [{ sendWarn: '1h', sendCrit: '99999999w' }, 'at most 10 years'],
    [{ sendWarn: '$(touch /tmp/p)', sendCrit: '1h' }, 'not a duration'],
  ])('refuses %j with a message naming the problem', (options, message) => {
    expect(() => parseThresholds(options)).toThrowError(InvalidThresholdError);
    expect(() => parseThresholds(options)).toThrowError(message);
  });

  it('parseDuration knows its units', () => {
    expect(parseDuration('x', '3d')).toBe(72 * H);
  });
});

describe('checkReport', () => {
  const result = (name: string, verdict: Verdict, reason: string) => ({
    ...assess(volume({ volume: name, jobs: [job('snapshot', H)] }), NOW),
    verdict,
    reason,
  });

  it('prints the Nagios line: state, summary, perfdata with limits in seconds', () => {
    const report = checkReport([assess(volume({ jobs: [job('snapshot', H)] }), NOW)]);
    expect(report).toEqual({
      verdict: 'OK',
      exitCode: 0,
      line: "BUTTERVOLUME OK - 1 volume OK | volumes=1 critical=0 warning=0 'pgdata snapshot age'=600s;7200;14400;0",
    });
  });

  it('names the worst volumes first and exits with the worst state', () => {
    const report = checkReport([
      result('a', 'WARN', 'snapshot paused'),
      result('b', 'OK', 'fine'),
      result('c', 'CRIT', 'never sent to b1 | x\nnext'),
    ]);
    expect(report.exitCode).toBe(2);
    expect(report.line.split(' | ')[0]).toBe(
      'BUTTERVOLUME CRITICAL - 3 volumes, 1 critical, 1 warning; c: never sent to b1 / x next; a: snapshot paused',
    );
    expect(report.line.split('\n')).toHaveLength(1);
  });
});
