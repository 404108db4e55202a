import type { Job, JobKey, JobTimer } from './job.js';
import type { JobState, JobStates } from './state.js';

const MINUTE_MS = 60_000;

/**
 * When a job should next run, given what the runner remembers and the time now. Pure.
 *
 * - Interval job: its interval after the start of its latest run. After a success that is the
 *   interval since the last success; after a failure it is the next period, so a failing job is
 *   retried once per period instead of at every pass. Never run: now (first pass).
 * - Cron job: the first cron time after its latest run, or, never run, after the runner first
 *   saw it (a "02:30" job added at 14:00 waits for 02:30 rather than running at once).
 * - Either way a time in the past means "due now", once: a job missed while the daemon was down
 *   for many periods runs once at start, then resumes its rhythm from that run.
 * - A remembered time later than now (the clock was set back) is not trusted: the job is due.
 * - A paused job (Active False) has no next run.
 */
export function nextRun(job: Job, state: JobState | undefined, now: Date): Date | null {
  if (!job.active) return null;
  const nowMs = now.getTime();
  const last = state?.lastAttempt;
  if (last !== undefined && last > nowMs) return now;
  if (job.timer.kind === 'interval') {
    return last === undefined ? now : new Date(last + job.timer.minutes * MINUTE_MS);
  }
  const since = last ?? state?.firstSeen ?? nowMs;
  const next = cronNextAfter(job.timer, Math.min(since, nowMs));
  return next === null ? null : new Date(next);
}

export function isDue(job: Job, state: JobState | undefined, now: Date): boolean {
  const next = nextRun(job, state, now);
  return next !== null && next.getTime() <= now.getTime();
}

/** The jobs to start now, most overdue first (file order among equals). */
export function dueJobs(jobs: readonly Job[], states: JobStates, now: Date): Job[] {
  const due: { job: Job; at: number }[] = [];
  for (const job of jobs) {
    const next = nextRun(job, states.get(job.key as JobKey), now);
    if (next !== null && next.getTime() <= now.getTime()) due.push({ job, at: next.getTime() });
  }
  // Array.prototype.sort is stable, so equal times keep the schedule's order.
  return due.sort((a, b) => a.at - b.at).map((entry) => entry.job);
}

type CronTimer = Extract<JobTimer, { kind: 'cron' }>;

// Walking a cron pattern costs microseconds; every pass asks each job the same question (same
// pattern, same last run) until it runs again, so remember the last answer per job's timer
// (the store keeps a row's Job, and so its timer object, while the row is unchanged).
const cronCache = new WeakMap<CronTimer, { since: number; next: number | null }>();

function cronNextAfter(timer: CronTimer, since: number): number | null {
  const cached = cronCache.get(timer);
  if (cached?.since === since) return cached.next;
  const next = timer.cron.nextRun(new Date(since))?.getTime() ?? null;
  cronCache.set(timer, { since, next });
  return next;
}

const PERIOD_SAMPLES = 8;

/**
 * The longest gap between two runs of a timer: its interval, or for a cron timer the widest gap
 * among its next few times after `from` (a weekday-only job has a 3-day gap at the weekend).
 * What "late" means for the job's volume: monitoring compares ages with it.
 */
export function timerPeriodMs(timer: JobTimer, from: Date): number | null {
  if (timer.kind === 'interval') return timer.minutes * MINUTE_MS;
  const runs = timer.cron.nextRuns(PERIOD_SAMPLES + 1, from);
  let widest: number | null = null;
  for (let i = 1; i < runs.length; i++) {
    const gap = runs[i]!.getTime() - runs[i - 1]!.getTime();
    widest = widest === null ? gap : Math.max(widest, gap);
  }
  return widest;
}
