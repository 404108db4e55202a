// COMPAT's Schedule endpoints, over @buttervolume/scheduler's store (schedule.csv) and runner.
import {
  applyScheduleCommand,
  type JobStatus,
  parseScheduleRequest,
  SCHEDULE_PAUSED_MESSAGE,
  type ScheduleProblem,
} from '@buttervolume/scheduler';
import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import { PluginError } from '../errors.js';
import type { Scheduling } from '../scheduling.js';
import { body } from './body.js';

/** One entry of Schedule.List: 3.x's four fields (Active the string 3.x clients compare), then ours. */
interface ScheduleEntry {
  Name: string;
  Action: string;
  Timer: string;
  Active: 'True' | 'False';
  LastRun: string | null;
  LastOutcome: 'success' | 'failure' | null;
  NextRun: string | null;
  LastError?: string;
  Running?: true;
  /** A row that does not run, and why (3.x listed such rows as if they were fine). */
  Invalid?: string;
  Line?: number;
}

export function scheduleRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const scheduling = (): Scheduling => {
    if (deps.scheduling) return deps.scheduling;
    throw new PluginError('NOT_WIRED', 'this daemon was started without a scheduler');
  };

  app.post('/VolumeDriver.Schedule', async (c) => {
    const command = parseScheduleRequest(await body(c));
    await applyScheduleCommand(scheduling().store, command);
    return c.json({ Err: '' });
  });

  // 3.x answers GET; POST too, since Docker-style clients post everything.
  app.on(['GET', 'POST'], '/VolumeDriver.Schedule.List', async (c) => {
    const status = await scheduling().scheduler.status();
    const schedule = [...status.jobs.map(entryOf), ...status.problems.flatMap(problemEntry)];
    // 3.x answers a paused schedule with this Err alone; the list (all inactive) is ours.
    const err = status.paused ? SCHEDULE_PAUSED_MESSAGE : '';
    return c.json({ Err: err, Schedule: schedule, Paused: status.paused });
  });

  app.post('/VolumeDriver.Schedule.Pause', async (c) => {
    await scheduling().store.pause();
    return c.json({ Err: '' });
  });
  app.post('/VolumeDriver.Schedule.Resume', async (c) => {
    await scheduling().store.resume();
    return c.json({ Err: '' });
  });
  return app;
}

function entryOf(job: JobStatus): ScheduleEntry {
  return {
    Name: job.name,
    Action: job.action,
    Timer: job.timer,
    Active: job.active && job.nextRun !== null ? 'True' : 'False',
    LastRun: job.lastRun?.toISOString() ?? null,
    LastOutcome: job.lastOutcome,
    NextRun: job.nextRun?.toISOString() ?? null,
    ...(job.lastError === null ? {} : { LastError: job.lastError }),
    ...(job.running ? { Running: true as const } : {}),
  };
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
      NextRun: null,
      Invalid: problem.reason,
      Line: problem.line,
    },
  ];
}
