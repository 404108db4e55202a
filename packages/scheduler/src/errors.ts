import { showValue } from '@buttervolume/text';
/** Which part of a schedule row was refused. */
export type JobField = 'Name' | 'Action' | 'Timer' | 'Active' | 'row';

/**
 * A schedule row or request we refuse. 3.x accepted these silently and then failed at every
 * pass (or ran a shell command built from them); we say which field is wrong and why.
 */
export class InvalidJobError extends Error {
  readonly code = 'INVALID_JOB';
  constructor(
    readonly field: JobField,
    readonly value: unknown,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid scheduled job: ${field} ${showValue(value)}: ${reason}`, options);
    this.name = 'InvalidJobError';
  }
}

/** 3.x's own words, which its clients may print or compare. */
export const SCHEDULE_PAUSED_MESSAGE = 'Schedule is globally paused';

/** A change to the schedule while it is globally paused (`schedule.csv.disabled`). */
export class SchedulePausedError extends Error {
  readonly code = 'SCHEDULE_PAUSED';
  constructor(readonly path: string) {
    super(SCHEDULE_PAUSED_MESSAGE);
    this.name = 'SchedulePausedError';
  }
}

/** Pause or resume of a job that is not in the schedule. */
export class JobNotFoundError extends Error {
  readonly code = 'JOB_NOT_FOUND';
  constructor(
    readonly volume: string,
    readonly action: string,
  ) {
    super(
      `No scheduled job ${showValue(action)} for volume ${showValue(volume)}: ` +
        'list the jobs with `buttervolume scheduled`',
    );
    this.name = 'JobNotFoundError';
  }
}

/** The schedule file could not be read, written or renamed. */
export class ScheduleStoreError extends Error {
  readonly code = 'SCHEDULE_STORE';
  constructor(
    readonly operation: string,
    readonly path: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super(`Cannot ${operation} ${path}${detail}. ${hint}`, options);
    this.name = 'ScheduleStoreError';
  }
}

/** Why a running job's signal was aborted. */
export class JobTimeoutError extends Error {
  readonly code = 'JOB_TIMEOUT';
  constructor(
    readonly job: string,
    readonly timeoutMs: number,
  ) {
    super(`Scheduled job ${job} did not finish within ${timeoutMs} ms and was aborted`);
    this.name = 'JobTimeoutError';
  }
}

/** Why a running job's signal was aborted at shutdown. */
export class SchedulerStoppedError extends Error {
  readonly code = 'SCHEDULER_STOPPED';
  constructor(readonly job: string) {
    super(`Scheduled job ${job} was aborted because the scheduler is stopping`);
    this.name = 'SchedulerStoppedError';
  }
}
