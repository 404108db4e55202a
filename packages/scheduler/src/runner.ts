import { nextRun as decideNextRun, dueJobs } from './decide.js';
import { JobTimeoutError, SchedulerStoppedError } from './errors.js';
import { formatTimer, type Job, type JobKey } from './job.js';
import { type LongTimeout, setLongTimeout } from './long-timeout.js';
import {
  defaultStatePath,
  type JobState,
  loadStates,
  type RunOutcome,
  type SchedulerState,
  type SendState,
  type SendStates,
  type SkipReason,
  saveStates,
  sendKey,
  truncateError,
} from './state.js';
import type { Schedule, ScheduleProblem } from './store.js';

export type LogFields = Record<string, unknown>;

/** Structurally the daemon's logger; anything with these four methods will do. */
export interface SchedulerLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Runs one job; must stop (reject) soon after `signal` aborts. Answers `{ skipped }` when it
 * did nothing on purpose (a skip-unchanged job on an unchanged volume).
 */
export type JobExecutor = (
  job: Job,
  signal: AbortSignal,
  // biome-ignore lint/suspicious/noConfusingVoidType: most executors return nothing at all
) => Promise<void | { readonly skipped: SkipReason }>;

export interface SchedulerOptions {
  /** Where the jobs come from: a ScheduleStore, read again at every pass. */
  readonly store: { readonly path: string; read(): Promise<Schedule> };
  /** Default: `<schedule>.state.json`. */
  readonly statePath?: string;
  readonly execute: JobExecutor;
  /** Seconds between two passes (TIMER); fractions allowed for tests. */
  readonly timerSeconds: number;
  /** Jobs running at once, across volumes (default 4). */
  readonly concurrency?: number;
  /** A job still running after this is aborted through its signal (default 6 hours). */
  readonly jobTimeoutMs?: number;
  /** The time used for every decision and record (default: the system clock). */
  readonly clock?: () => Date;
  readonly logger?: SchedulerLogger;
  /** Told of every finished run (the daemon counts them for its metrics). */
  readonly onJobFinished?: (
    job: Job,
    outcome: 'success' | 'failure' | 'skipped',
    ms: number,
  ) => void;
}

/** How one send ended, for recordSend(). */
export type SendOutcome =
  | {
      readonly ok: true;
      readonly bytes: number;
      readonly incremental: boolean;
      readonly durationMs: number;
    }
  | { readonly ok: false; readonly error: string };

export interface JobStatus {
  readonly job: Job;
  readonly name: string;
  readonly action: string;
  readonly timer: string;
  readonly active: boolean;
  readonly running: boolean;
  /** Start of the latest run, whatever its outcome. */
  readonly lastRun: Date | null;
  readonly lastSuccess: Date | null;
  readonly lastOutcome: RunOutcome | null;
  readonly lastError: string | null;
  /** Failed runs in a row since the latest success. */
  readonly failures: number;
  /** Null when the job or the whole schedule is paused. */
  readonly nextRun: Date | null;
}

export interface SchedulerStatus {
  readonly paused: boolean;
  readonly jobs: readonly JobStatus[];
  readonly problems: readonly ScheduleProblem[];
}

interface Pending {
  readonly job: Job;
  /** Called with the run once the pump starts it, or with undefined if it never will. */
  readonly started: (run: Running | undefined) => void;
}

interface Running {
  readonly job: Job;
  readonly controller: AbortController;
  readonly finished: Promise<void>;
}

interface StatusMemo {
  readonly state: JobState | undefined;
  readonly paused: boolean;
  /** Set when the next run depends on the time of the call (see dependsOnNow). */
  readonly nextRunAt: number | null | undefined;
  readonly status: JobStatus;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_JOB_TIMEOUT_MS = 6 * 3600_000;

/**
 * Reads the schedule every `timerSeconds`, starts the jobs that are due and records how they
 * went. Guarantees: two jobs of one volume never run at once (a snapshot and a purge of the
 * same volume take turns); jobs of different volumes run side by side up to `concurrency`, so a
 * slow replication holds one slot, not the whole schedule; a failing job is logged with its
 * volume and action and does not stop the others; a job running longer than `jobTimeoutMs` is
 * aborted; a job is never queued twice. The executor must honour its signal: a job's volume
 * stays busy until its promise settles, so that an aborted job that is still unwinding never
 * overlaps the next one on that volume.
 */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #statePath: string;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #clock: () => Date;
  readonly #log: SchedulerLogger;
  #state: SchedulerState | undefined;
  #saving: Promise<void> = Promise.resolve();
  readonly #pending: Pending[] = [];
  readonly #running = new Map<JobKey, Running>();
  readonly #busyVolumes = new Set<string>();
  readonly #reported = new Set<string>();
  #timer: LongTimeout | undefined;
  #started = false;
  #stopping = false;
  /** The last status() answer, per job (see status()). */
  #statuses:
    | {
        memo: Map<JobKey, StatusMemo>;
        jobs: readonly JobStatus[];
        answer: SchedulerStatus;
        schedule: Schedule;
        changes: number;
        /** Some next run was worked out from the time of the call. */
        timely: boolean;
      }
    | undefined;
  /** Counts changes of job states and of the running set (status() answers again on a change). */
  #changes = 0;
  #sendsVersion = 0;

  constructor(options: SchedulerOptions) {
    if (!(options.timerSeconds > 0 && Number.isFinite(options.timerSeconds))) {
      throw new RangeError('timerSeconds must be a positive finite number');
    }
    const timeoutMs = options.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
      throw new RangeError('jobTimeoutMs must be a positive finite number');
    }
    this.#options = options;
    this.#statePath = options.statePath ?? defaultStatePath(options.store.path);
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
    this.#timeoutMs = timeoutMs;
    this.#clock = options.clock ?? (() => new Date());
    this.#log = options.logger ?? consoleLogger;
  }

  /** Starts the passes: the first one at once, then one every `timerSeconds`. */
  start(): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    this.#log.info('scheduler started', { everySeconds: this.#options.timerSeconds });
    this.#schedulePass(0);
  }

  /** One pass: starts what is due and resolves when those jobs have finished and are recorded. */
  async tick(): Promise<{ started: Job[] }> {
    const runs = (await Promise.all(await this.#pass())).filter(
      (run): run is Running => run !== undefined,
    );
    await Promise.all(runs.map((run) => run.finished));
    await this.#saving;
    return { started: runs.map((run) => run.job) };
  }

  /**
   * Stops starting jobs, lets running ones finish for up to `graceMs`, then aborts the rest and
   * waits (up to `graceMs` again) for them to unwind. Queued jobs that never started are left
   * for the next start: their state is untouched, so they are still due then.
   */
  async stop({ graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> {
    this.#stopping = true;
    this.#timer?.clear();
    for (const pending of this.#pending.splice(0)) pending.started(undefined);
    const running = () => Promise.all([...this.#running.values()].map((r) => r.finished));
    if (!(await within(running(), graceMs))) {
      for (const { job, controller } of this.#running.values()) {
        this.#log.warn('aborting scheduled job at shutdown', identity(job));
        controller.abort(new SchedulerStoppedError(describe(job)));
      }
      if (!(await within(running(), graceMs))) {
        this.#log.error('scheduled jobs did not stop after being aborted', {
          jobs: [...this.#running.values()].map((r) => describe(r.job)),
        });
      }
    }
    await this.#saving;
    if (this.#started) this.#log.info('scheduler stopped');
  }

  /**
   * Each valid job with its last run, outcome and next run, plus the rows that do not run.
   * Health asks every second, at 10,000 jobs: a job whose row, state and running flag are the
   * ones of the last call keeps its JobStatus object, and when none changed the jobs array is
   * the last one too (callers may compare them by identity).
   */
  async status(): Promise<SchedulerStatus> {
    const [schedule, { jobs: states }] = await Promise.all([
      this.#options.store.read(),
      this.#loadState(),
    ]);
    const now = this.#clock();
    const previous = this.#statuses;
    if (
      previous !== undefined &&
      previous.schedule === schedule &&
      previous.changes === this.#changes &&
      !previous.timely
    ) {
      return previous.answer;
    }
    const changes = this.#changes;
    const memo = new Map<JobKey, StatusMemo>();
    let timely = false;
    let reused = previous !== undefined && previous.jobs.length === schedule.jobs.length;
    const jobs = schedule.jobs.map((job, i): JobStatus => {
      const state = states.get(job.key);
      const running = this.#running.has(job.key);
      const last = previous?.memo.get(job.key);
      let entry: StatusMemo;
      if (
        last !== undefined &&
        last.status.job === job &&
        last.state === state &&
        last.status.running === running &&
        last.paused === schedule.paused &&
        (last.nextRunAt === undefined ||
          last.nextRunAt === nextRunTime(job, state, now, schedule.paused))
      ) {
        entry = last;
      } else {
        const at = nextRunTime(job, state, now, schedule.paused);
        const next = at === null ? null : new Date(at);
        entry = {
          state,
          paused: schedule.paused,
          // A next run computed from `now` (a job never run) is worked out again at each call.
          nextRunAt: !schedule.paused && dependsOnNow(job, state, now) ? at : undefined,
          status: {
            job,
            name: job.volume,
            action: job.actionText,
            timer: formatTimer(job.timer),
            active: job.active,
            running,
            lastRun: dateOrNull(state?.lastAttempt),
            lastSuccess: dateOrNull(state?.lastSuccess),
            lastOutcome: state?.lastOutcome ?? null,
            lastError: state?.lastError ?? null,
            failures: state?.failures ?? 0,
            nextRun: next,
          },
        };
      }
      memo.set(job.key, entry);
      if (entry.nextRunAt !== undefined) timely = true;
      if (reused && previous!.jobs[i] !== entry.status) reused = false;
      return entry.status;
    });
    const answer: SchedulerStatus = {
      paused: schedule.paused,
      jobs: reused ? previous!.jobs : jobs,
      problems: schedule.problems,
    };
    this.#statuses = { memo, jobs: answer.jobs, answer, schedule, changes, timely };
    return answer;
  }

  /**
   * Remembers how a send of `volume` to `host` ended (requested or scheduled), in the same
   * state file as the jobs, so `buttervolume status` still knows after a restart.
   */
  async recordSend(volume: string, host: string, outcome: SendOutcome): Promise<void> {
    const { sends } = await this.#loadState();
    const key = sendKey(volume, host);
    const previous = sends.get(key) ?? {};
    const at = this.#clock().getTime();
    const next: SendState = outcome.ok
      ? {
          ...previous,
          lastSuccess: {
            at,
            bytes: outcome.bytes,
            incremental: outcome.incremental,
            durationMs: Math.round(outcome.durationMs),
          },
        }
      : { ...previous, lastFailure: { at, error: truncateError(outcome.error) } };
    sends.set(key, next);
    this.#sendsVersion++;
    this.#save();
    await this.#saving;
  }

  /** What is remembered of every (volume, host) send; keys from sendKey(). */
  async sendStates(): Promise<SendStates> {
    return (await this.#loadState()).sends;
  }

  /** Moves whenever a send is recorded: sendStates() holds the same facts while it does not. */
  get sendsVersion(): number {
    return this.#sendsVersion;
  }

  #schedulePass(delayMs: number): void {
    if (this.#stopping) return;
    // Unref'd: the daemon's server keeps the process alive; a forgotten scheduler must not.
    this.#timer = setLongTimeout(() => {
      this.#pass()
        .catch((error: unknown) => this.#log.error('scheduler pass failed', { error }))
        .finally(() => this.#schedulePass(this.#options.timerSeconds * 1000));
    }, delayMs);
  }

  /**
   * Decides and queues; returns, per queued job, a promise of its start. The timer loop does not
   * wait for those: a job waiting behind a slow one on its volume must not hold up the passes.
   */
  async #pass(): Promise<Promise<Running | undefined>[]> {
    if (this.#stopping) return [];
    const { jobs: states } = await this.#loadState();
    let schedule: Schedule;
    try {
      schedule = await this.#options.store.read();
    } catch (error) {
      this.#log.error('cannot read the schedule, no job started this pass', { error });
      return [];
    }
    this.#reportProblems(schedule.problems);
    if (schedule.paused || this.#stopping) return [];
    const now = this.#clock();
    if (this.#rememberNewJobs(schedule.jobs, now)) this.#save();
    const due = dueJobs(schedule.jobs, states, now).filter((job) => !this.#isQueued(job.key));
    const starts = due.map(
      (job) => new Promise<Running | undefined>((started) => this.#pending.push({ job, started })),
    );
    this.#pump();
    return starts;
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && !this.#stopping) {
      const index = this.#pending.findIndex((p) => !this.#busyVolumes.has(p.job.volume));
      if (index < 0) return;
      const [pending] = this.#pending.splice(index, 1);
      pending!.started(this.#run(pending!.job));
    }
  }

  #run(job: Job): Running {
    const controller = new AbortController();
    const startedAt = this.#clock().getTime();
    this.#busyVolumes.add(job.volume);
    const timeout = setLongTimeout(
      () => controller.abort(new JobTimeoutError(describe(job), this.#timeoutMs)),
      this.#timeoutMs,
    );
    this.#log.info('scheduled job started', identity(job));
    const finished = Promise.resolve()
      .then(() => this.#options.execute(job, controller.signal))
      .then((result) => {
        if (controller.signal.aborted) throw controller.signal.reason;
        return result?.skipped;
      })
      .then(
        (skipped) => this.#record(job, startedAt, { skipped }),
        (error: unknown) =>
          this.#record(job, startedAt, { error: error ?? new Error('unknown failure') }),
      )
      .finally(() => {
        timeout.clear();
        this.#running.delete(job.key);
        this.#changes++;
        this.#busyVolumes.delete(job.volume);
        this.#pump();
      });
    const run: Running = { job, controller, finished };
    this.#running.set(job.key, run);
    this.#changes++;
    return run;
  }

  #record(
    job: Job,
    startedAt: number,
    ended: { skipped?: SkipReason | undefined; error?: unknown },
  ): void {
    const states = this.#state!.jobs;
    const previous = states.get(job.key) ?? {};
    const ms = this.#clock().getTime() - startedAt;
    const { error, skipped } = ended;
    if (error === undefined) {
      const outcome: RunOutcome = skipped === undefined ? 'success' : `skipped: ${skipped}`;
      if (skipped === undefined)
        this.#log.info('scheduled job succeeded', { ...identity(job), ms });
      else this.#log.info('scheduled job skipped', { ...identity(job), ms, outcome });
      if (previous.lastOutcome === 'failure') {
        // Stable event for log-based alerting: the job that was failing works again.
        this.#log.info('job recovered', {
          event: 'job.recovered',
          ...identity(job),
          failures: previous.failures ?? 1,
          ...(previous.lastError === undefined ? {} : { lastError: previous.lastError }),
        });
      }
      const { lastError: _dropped, failures: _reset, ...rest } = previous;
      this.#changes++;
      states.set(job.key, {
        ...rest,
        lastAttempt: startedAt,
        lastSuccess: startedAt,
        lastOutcome: outcome,
      });
    } else {
      const message = error instanceof Error ? error.message : String(error);
      const failures = (previous.failures ?? 0) + 1;
      this.#log.error('scheduled job failed', {
        event: 'job.failed',
        ...identity(job),
        ms,
        failures,
        error,
      });
      this.#changes++;
      states.set(job.key, {
        ...previous,
        lastAttempt: startedAt,
        lastOutcome: 'failure',
        lastError: truncateError(message),
        failures,
      });
    }
    this.#options.onJobFinished?.(
      job,
      error !== undefined ? 'failure' : skipped !== undefined ? 'skipped' : 'success',
      ms,
    );
    this.#save();
  }

  #isQueued(key: JobKey): boolean {
    return this.#running.has(key) || this.#pending.some((p) => p.job.key === key);
  }

  #rememberNewJobs(jobs: readonly Job[], now: Date): boolean {
    const states = this.#state!.jobs;
    let changed = false;
    for (const job of jobs) {
      if (!states.has(job.key)) {
        states.set(job.key, { firstSeen: now.getTime() });
        this.#changes++;
        changed = true;
      }
    }
    return changed;
  }

  async #loadState(): Promise<SchedulerState> {
    if (this.#state) return this.#state;
    const { jobs, sends, problem } = await loadStates(this.#statePath);
    if (problem) this.#log.warn('scheduler state unreadable, starting afresh', { problem });
    // Another caller may have loaded it while we awaited; keep the first.
    this.#state ??= { jobs, sends };
    return this.#state;
  }

  /** Saves are chained so they land in order; a failed save is logged and retried at the next. */
  #save(): void {
    const state = this.#state;
    if (!state) return;
    this.#saving = this.#saving
      .then(() => saveStates(this.#statePath, state.jobs, state.sends))
      .catch((error: unknown) =>
        this.#log.error('cannot save the scheduler state', { path: this.#statePath, error }),
      );
  }

  #reportProblems(problems: readonly ScheduleProblem[]): void {
    // Once per distinct row, not at every pass: a bad line must not drown the log.
    for (const problem of problems) {
      const id = `${problem.line}\u0000${problem.raw}\u0000${problem.reason}`;
      if (this.#reported.has(id)) continue;
      this.#reported.add(id);
      this.#log.warn('schedule row skipped', {
        path: this.#options.store.path,
        line: problem.line,
        row: problem.raw,
        reason: problem.reason,
      });
    }
  }
}

/** Whether nextRun() answers from the time of the call rather than from the job's state. */
function dependsOnNow(job: Job, state: JobState | undefined, now: Date): boolean {
  if (!job.active) return false;
  const last = state?.lastAttempt;
  return last === undefined || last > now.getTime();
}

function nextRunTime(
  job: Job,
  state: JobState | undefined,
  now: Date,
  paused: boolean,
): number | null {
  if (paused) return null;
  return decideNextRun(job, stateWithFirstSeen(state, now), now)?.getTime() ?? null;
}

function stateWithFirstSeen(state: JobState | undefined, now: Date): JobState {
  return state ?? { firstSeen: now.getTime() };
}

function identity(job: Job): LogFields {
  return { volume: job.volume, action: job.actionText, timer: formatTimer(job.timer) };
}

function describe(job: Job): string {
  return `${job.actionText} of ${job.volume}`;
}

function dateOrNull(ms: number | undefined): Date | null {
  return ms === undefined ? null : new Date(ms);
}

/** Resolves true if `promise` settles within `ms`, false otherwise; never keeps the process up. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function logLine(level: string, message: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, message, ...fields }, (_key, value: unknown) =>
    value instanceof Error ? { name: value.name, message: value.message } : value,
  );
  process.stderr.write(`${line}\n`);
}

const consoleLogger: SchedulerLogger = {
  debug: () => {},
  info: (message, fields) => logLine('INFO', message, fields),
  warn: (message, fields) => logLine('WARNING', message, fields),
  error: (message, fields) => logLine('ERROR', message, fields),
};
