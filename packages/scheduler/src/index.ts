// @buttervolume/scheduler: scheduled snapshots, replications, purges and synchronisations.
// The job model and the due-decisions are pure (time is passed in); the store owns
// schedule.csv; the runner reads it every TIMER seconds and runs an injected executor.

export { timerPeriodMs } from './decide.js';
export {
  InvalidJobError,
  type JobField,
  JobNotFoundError,
  JobTimeoutError,
  SCHEDULE_PAUSED_MESSAGE,
  SchedulePausedError,
  SchedulerStoppedError,
  ScheduleStoreError,
} from './errors.js';
export {
  type GroupMembers,
  type Job,
  type JobAction,
  type JobTimer,
  jobVolumes,
  parseJob,
} from './job.js';
export { applyScheduleCommand, parseScheduleRequest, type ScheduleCommand } from './request.js';
export {
  type JobExecutor,
  type JobStatus,
  type LogFields,
  Scheduler,
  type SchedulerLogger,
  type SchedulerOptions,
  type SchedulerStatus,
  type SendOutcome,
} from './runner.js';
export type {
  JobState,
  JobStates,
  RunOutcome,
  SchedulerState,
  SendKey,
  SendState,
  SendStates,
  SkipReason,
} from './state.js';
export { type Schedule, type ScheduleProblem, ScheduleStore } from './store.js';
