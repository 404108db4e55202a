import type { JobFacts, Limits, Thresholds, Verdict, VolumeFacts } from './facts.js';
import { formatAge } from './format.js';

/** A job running every period is late past 2 periods (WARN) and lost past 4 (CRIT). */
export const WARN_PERIODS = 2;
export const CRIT_PERIODS = 4;

export type ProblemCode =
  | 'attention'
  | 'no-snapshot'
  | 'snapshot-age'
  | 'no-send'
  | 'send-age'
  | 'job-failing'
  | 'job-paused'
  | 'schedule-paused';

export interface Problem {
  readonly verdict: Exclude<Verdict, 'OK'>;
  readonly code: ProblemCode;
  readonly message: string;
  readonly host?: string;
  readonly action?: string;
}

/** An age compared with its limits; `ageMs` null when there is nothing to measure yet. */
export interface AgeCheck {
  readonly ageMs: number | null;
  readonly limits: Limits;
}

export interface Assessment {
  readonly volume: string;
  readonly verdict: Verdict;
  /** The worst problems, or what is fine, in one line. */
  readonly reason: string;
  readonly problems: readonly Problem[];
  /** Null when no limit applies (no schedule, no explicit threshold). */
  readonly snapshotAge: AgeCheck | null;
  readonly sendAges: readonly (AgeCheck & { readonly host: string })[];
}

const RANK: Record<Verdict, number> = { OK: 0, WARN: 1, CRIT: 2 };

export function worst(verdicts: Iterable<Verdict>): Verdict {
  let result: Verdict = 'OK';
  for (const verdict of verdicts) if (RANK[verdict] > RANK[result]) result = verdict;
  return result;
}

/**
 * One verdict for a volume, pure: its snapshot and send ages against the limits (explicit, or
 * 2 and 4 periods of the jobs that make them), failing and paused jobs, a paused schedule and a
 * "needs attention" state. Paused and failing things are reported, never taken as "fine".
 */
export function assess(facts: VolumeFacts, now: number, thresholds: Thresholds = {}): Assessment {
  const { problems, snapshotAge, sendAges } = evaluate(facts, now, thresholds, true);
  const verdict = worst(problems.map((p) => p.verdict));
  const reason =
    problems.length > 0
      ? problems.map((p) => p.message).join('; ')
      : fineReason(facts, now, snapshotAge, sendAges);
  return { volume: facts.volume, verdict, reason, problems, snapshotAge, sendAges };
}

/**
 * assess()'s verdict alone: the same rules without writing a message or reason (a scrape
 * needs the verdicts of 10,000 volumes, not their explanations).
 */
export function verdictOf(facts: VolumeFacts, now: number, thresholds: Thresholds = {}): Verdict {
  return worst(evaluate(facts, now, thresholds, false).problems.map((p) => p.verdict));
}

/**
 * verdictOf(), and the last moment it still holds while the facts stay the same: ages only
 * grow, so it holds until the first age passes its next limit (Infinity when none can). A
 * scrape of 10,000 volumes reuses each verdict until then instead of working it out again.
 */
export function verdictUntil(
  facts: VolumeFacts,
  now: number,
  thresholds: Thresholds = {},
): { verdict: Verdict; until: number } {
  const { problems, snapshotAge, sendAges } = evaluate(facts, now, thresholds, false);
  let until = Number.POSITIVE_INFINITY;
  for (const age of snapshotAge === null ? sendAges : [snapshotAge, ...sendAges]) {
    if (age.ageMs === null) continue;
    const { warnMs, critMs } = age.limits;
    const limit = age.ageMs <= warnMs ? warnMs : age.ageMs <= critMs ? critMs : undefined;
    if (limit !== undefined) until = Math.min(until, now - age.ageMs + limit);
  }
  return { verdict: worst(problems.map((p) => p.verdict)), until };
}

/** The problems of a volume, sorted worst first; messages are empty unless `explain`. */
function evaluate(
  facts: VolumeFacts,
  now: number,
  thresholds: Thresholds,
  explain: boolean,
): {
  problems: Problem[];
  snapshotAge: AgeCheck | null;
  sendAges: (AgeCheck & { host: string })[];
} {
  const problems: Problem[] = [];
  if (facts.attention !== null) {
    problems.push({
      verdict: 'CRIT',
      code: 'attention',
      message: explain ? `needs attention: ${facts.attention}` : '',
    });
  }

  const makers = facts.jobs.filter((job) => job.kind !== 'purge');
  const snapshotLimits = thresholds.snapshot ?? limitsOf(makers);
  let snapshotAge: AgeCheck | null = null;
  if (snapshotLimits) {
    // A skip-unchanged run proved the newest snapshot still holds what the volume holds.
    const current = latest(facts.newestSnapshot, unchangedAt(makers));
    const ageMs = current === null ? null : Math.max(0, now - current);
    snapshotAge = { ageMs, limits: snapshotLimits };
    if (ageMs === null) {
      const ran = makers.some((job) => job.lastRun !== null);
      problems.push({
        verdict: ran || thresholds.snapshot ? 'CRIT' : 'WARN',
        code: 'no-snapshot',
        message: ran || thresholds.snapshot ? 'no snapshot' : 'no snapshot yet (first run pending)',
      });
    } else {
      const verdict = ageVerdict(ageMs, snapshotLimits);
      if (verdict !== 'OK') {
        problems.push({
          verdict,
          code: 'snapshot-age',
          message: explain
            ? `newest snapshot ${formatAge(ageMs)} old (${limitText(snapshotLimits, verdict)})`
            : '',
        });
      }
    }
  }

  const sendAges: (AgeCheck & { host: string })[] = [];
  for (const host of sendHosts(facts, thresholds)) {
    const senders = facts.jobs.filter(
      (job) => job.kind === 'replicate' && job.hosts.includes(host),
    );
    const limits = thresholds.send ?? limitsOf(senders);
    if (!limits) continue;
    const sentAt = facts.sends.find((send) => send.host === host)?.lastSuccess?.at ?? null;
    const current = latest(sentAt, unchangedAt(senders));
    const ageMs = current === null ? null : Math.max(0, now - current);
    sendAges.push({ host, ageMs, limits });
    if (ageMs === null) {
      const ran = senders.some((job) => job.lastRun !== null);
      problems.push({
        verdict: ran || thresholds.send ? 'CRIT' : 'WARN',
        code: 'no-send',
        host,
        message: ran || thresholds.send ? `never sent to ${host}` : `not sent to ${host} yet`,
      });
      continue;
    }
    const verdict = ageVerdict(ageMs, limits);
    if (verdict !== 'OK') {
      problems.push({
        verdict,
        code: 'send-age',
        host,
        message: explain
          ? `last send to ${host} ${formatAge(ageMs)} ago (${limitText(limits, verdict)})`
          : '',
      });
    }
  }

  for (const job of facts.jobs) {
    if (job.lastOutcome === 'failure') {
      const times = job.failures > 1 ? `, ${job.failures} times in a row` : '';
      problems.push({
        verdict: 'WARN',
        code: 'job-failing',
        action: job.action,
        message: explain
          ? `${job.action} failing${times}: ${firstLine(job.lastError ?? 'unknown error')}`
          : '',
      });
    }
    if (!job.active) {
      problems.push({
        verdict: 'WARN',
        code: 'job-paused',
        action: job.action,
        message: `${job.action} paused`,
      });
    }
  }
  if (facts.schedulePaused && facts.jobs.length > 0) {
    problems.push({ verdict: 'WARN', code: 'schedule-paused', message: 'schedule paused' });
  }

  problems.sort((a, b) => RANK[b.verdict] - RANK[a.verdict]);
  return { problems, snapshotAge, sendAges };
}

/** When a job last found its volume unchanged since what it protects (null: never). */
function unchangedAt(jobs: readonly JobFacts[]): number | null {
  let at: number | null = null;
  for (const job of jobs) {
    if (job.lastOutcome === 'skipped: unchanged') at = latest(at, job.lastRun);
  }
  return at;
}

function latest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** The limits implied by jobs: their shortest period, times 2 and 4. */
export function limitsOf(jobs: readonly JobFacts[]): Limits | undefined {
  let period: number | undefined;
  for (const job of jobs) {
    if (job.periodMs !== null && (period === undefined || job.periodMs < period)) {
      period = job.periodMs;
    }
  }
  return period === undefined
    ? undefined
    : { warnMs: WARN_PERIODS * period, critMs: CRIT_PERIODS * period };
}

function sendHosts(facts: VolumeFacts, thresholds: Thresholds): string[] {
  const hosts = new Set<string>();
  for (const job of facts.jobs)
    if (job.kind === 'replicate') for (const h of job.hosts) hosts.add(h);
  // With an explicit limit, every host this volume was ever sent to is held to it.
  if (thresholds.send) for (const send of facts.sends) hosts.add(send.host);
  return [...hosts].sort();
}

function ageVerdict(ageMs: number, limits: Limits): Verdict {
  if (ageMs > limits.critMs) return 'CRIT';
  if (ageMs > limits.warnMs) return 'WARN';
  return 'OK';
}

function limitText(limits: Limits, verdict: Verdict): string {
  return verdict === 'CRIT'
    ? `crit ${formatAge(limits.critMs)}`
    : `warn ${formatAge(limits.warnMs)}`;
}

function fineReason(
  facts: VolumeFacts,
  now: number,
  snapshotAge: AgeCheck | null,
  sendAges: readonly (AgeCheck & { host: string })[],
): string {
  const parts: string[] = [];
  if (facts.newestSnapshot === null) parts.push('no snapshot');
  else parts.push(`newest snapshot ${formatAge(Math.max(0, now - facts.newestSnapshot))} old`);
  for (const send of sendAges) {
    if (send.ageMs !== null) parts.push(`sent to ${send.host} ${formatAge(send.ageMs)} ago`);
  }
  if (snapshotAge === null && facts.jobs.length === 0) parts.push('no scheduled job');
  return parts.join('; ');
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
