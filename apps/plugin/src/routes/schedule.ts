// COMPAT's Schedule endpoints, over @buttervolume/scheduler's store (schedule.csv) and runner.
import type { ScheduleEntry, ScheduleListResponse } from '@buttervolume/api';
import {
  applyScheduleCommand,
  type JobStatus,
  parseScheduleRequest,
  SCHEDULE_PAUSED_MESSAGE,
  type ScheduleProblem,
} from '@buttervolume/scheduler';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import { asRequestError, readJson } from '../validation.js';
import type { Handlers } from './handlers.js';

export function scheduleHandlers(
  deps: AppDeps,
): Pick<Handlers, 'schedule' | 'scheduleList' | 'schedulePause' | 'scheduleResume'> {
  const scheduling = (): NonNullable<AppDeps['scheduling']> => {
    if (deps.scheduling) return deps.scheduling;
    throw new PluginError('NOT_WIRED', 'this daemon was started without a scheduler');
  };

  return {
    schedule: async (c) => {
      const body = await readJson(c);
      // The scheduler's own parser (the CLI's too): the job it makes goes to the store as is.
      const command = asRequestError(c.req.path, () => parseScheduleRequest(body));
      await applyScheduleCommand(scheduling().store, command);
      return c.json({ Err: '' });
    },

    scheduleList: async (c) => {
      const status = await scheduling().scheduler.status();
      const schedule = [...status.jobs.map(entryOf), ...status.problems.flatMap(problemEntry)];
      // 3.x answers a paused schedule with this Err alone; the list (all inactive) is ours.
      const err = status.paused ? SCHEDULE_PAUSED_MESSAGE : '';
      const response: ScheduleListResponse = {
        Err: err,
        Schedule: schedule,
        Paused: status.paused,
      };
      return c.json(response);
    },

    schedulePause: async (c) => {
      await scheduling().store.pause();
      return c.json({ Err: '' });
    },
    scheduleResume: async (c) => {
      await scheduling().store.resume();
      return c.json({ Err: '' });
    },
  } satisfies Partial<Handlers>;
}

function entryOf(job: JobStatus): ScheduleEntry {
  return {
    Name: job.name,
    Action: job.action,
    Timer: job.timer,
    Active: job.active && job.nextRun !== null ? 'True' : 'False',
    LastRun: job.lastRun?.toISOString() ?? null,
    ...outcomeOf(job),
    NextRun: job.nextRun?.toISOString() ?? null,
    ...(job.running ? { Running: true } : {}),
  };
}

/** The scheduler's state file says 'success' / 'failure' + lastError; the wire 'ok' / 'error'. */
export function outcomeOf(
  job: Pick<JobStatus, 'lastOutcome' | 'lastError'>,
): Pick<ScheduleEntry, 'LastOutcome' | 'LastError'> {
  if (job.lastOutcome === 'success') return { LastOutcome: 'ok', LastError: null };
  if (job.lastOutcome === 'skipped: unchanged')
    return { LastOutcome: job.lastOutcome, LastError: null };
  if (job.lastOutcome === 'failure') {
    return { LastOutcome: 'error', LastError: job.lastError ?? 'unknown error' };
  }
  return { LastOutcome: null, LastError: null };
}

function problemEntry(problem: ScheduleProblem): ScheduleEntry[] {
  if (problem.name === undefined || problem.action === undefined) {
    return [
      {
        Name: '',
        Action: '',
        Timer: '',
        Active: 'False',
        LastRun: null,
        LastOutcome: null,
        LastError: null,
        NextRun: null,
        Invalid: `${problem.reason}: ${problem.raw}`,
        Line: problem.line,
      },
    ];
  }
  return [
    {
      Name: problem.name,
      Action: problem.action,
      Timer: problem.timer ?? '',
      Active: 'False',
      LastRun: null,
      LastOutcome: null,
      LastError: null,
      NextRun: null,
      Invalid: problem.reason,
      Line: problem.line,
    },
  ];
}
