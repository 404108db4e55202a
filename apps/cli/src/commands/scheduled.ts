import {
  type ButtervolumeClient,
  DaemonError,
  type ScheduleEntry,
  type ScheduleListResponse,
} from '@buttervolume/api';
import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { DaemonCommand } from '../base.js';
import { formatTable, formatTime } from '../format.js';

/** COMPAT's line: `<action> <timer> <volume>`, `(paused)` after a paused job. */
export function scheduleLine(job: ScheduleEntry): string {
  return `${job.Action} ${job.Timer} ${job.Name}${job.Active === 'False' ? ' (paused)' : ''}`;
}

export function scheduleTable(jobs: readonly ScheduleEntry[]): string {
  const rows = jobs.map((job) => [
    job.Action,
    String(job.Timer),
    job.Name,
    job.Active === 'False' ? '(paused)' : '',
    formatTime(job.LastRun),
    job.LastOutcome ?? '-',
    job.Active === 'False' ? '-' : formatTime(job.NextRun),
  ]);
  return formatTable([
    ['ACTION', 'TIMER', 'VOLUME', '', 'LAST RUN', 'OUTCOME', 'NEXT RUN'],
    ...rows,
  ]);
}

export class ScheduledCommand extends DaemonCommand {
  static override paths = [['scheduled']];
  static override usage = Command.Usage({
    description: 'list the scheduled jobs, or pause or resume all of them',
    details: `
      \`list\` (the default) prints each job as \`<action> <timer> <volume>\`, the words
      \`schedule\` takes, with \`(paused)\` after a paused job. On a terminal (or with
      \`--long\`) it also shows when each job last ran, how that went, and when it runs next.
      \`pause\` and \`resume\` act on every job at once.
    `,
    examples: [
      ['List the jobs', '$0 scheduled'],
      ['Stop every job, e.g. during maintenance', '$0 scheduled pause'],
      ['Start them again', '$0 scheduled resume'],
    ],
  });

  action = Option.String({
    name: 'list|pause|resume',
    required: false,
    validator: t.isEnum(['list', 'pause', 'resume'] as const),
  });
  long = Option.Boolean('-l,--long', false, {
    description: 'Show run times even when not on a terminal',
  });

  protected async run(): Promise<void> {
    const client = this.client();
    if (this.action === 'pause' || this.action === 'resume') {
      const answer =
        this.action === 'pause' ? await client.schedulePause() : await client.scheduleResume();
      if (this.json) return this.printJson(answer);
      return this.print(
        this.action === 'pause' ? 'Paused every scheduled job.' : 'Resumed every scheduled job.',
      );
    }
    const { answer, paused } = await listSchedule(client);
    if (this.json) return this.printJson(answer);
    if (paused) {
      this.context.stderr.write(
        'The whole schedule is paused: `buttervolume scheduled resume` resumes it.\n',
      );
    }
    if (!(this.context.tty || this.long))
      return this.print(answer.Schedule.map(scheduleLine).join('\n'));
    this.print(
      answer.Schedule.length === 0 ? 'No scheduled jobs.' : scheduleTable(answer.Schedule),
    );
  }
}

/**
 * A paused schedule is answered with an Err (as 3.x did) but also with the jobs: listing them
 * is what the user asked for, so that answer is not a failure here.
 */
async function listSchedule(
  client: ButtervolumeClient,
): Promise<{ answer: ScheduleListResponse; paused: boolean }> {
  try {
    const answer = await client.scheduleList();
    return { answer, paused: answer.Paused === true };
  } catch (error) {
    const response =
      error instanceof DaemonError ? (error.response as Partial<ScheduleListResponse>) : undefined;
    if (response?.Paused === true && Array.isArray(response.Schedule)) {
      return { answer: response as ScheduleListResponse, paused: true };
    }
    throw error;
  }
}
