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

/** A Schedule.List entry (`Invalid`/`Line` on a schedule.csv row that never runs). */
export type ListedJob = ScheduleEntry;

// Characters a POSIX shell takes literally in a word: anything else is single-quoted.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `30 2 * * *` → `'30 2 * * *'`, so a printed line can be pasted back as a command. */
export function shellWord(text: string): string {
  if (SHELL_SAFE.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The words `schedule` takes, in its order; valid jobs never need quoting but a cron timer. */
function scheduleWords(job: ListedJob): string {
  return [job.Action, job.Timer, job.Name].map(shellWord).join(' ');
}

/**
 * COMPAT's line: `<action> <timer> <volume>`, `(paused)` after a paused job (3.x's exact text
 * for minute timers). A schedule.csv row that never runs says why instead of looking paused.
 */
export function scheduleLine(job: ListedJob): string {
  if (job.Invalid !== undefined) {
    if (job.Name === '' && job.Action === '') return `${rowLabel(job)} (invalid): ${job.Invalid}`;
    return `${scheduleWords(job)} (invalid: ${job.Invalid})`;
  }
  return `${scheduleWords(job)}${job.Active === 'False' ? ' (paused)' : ''}`;
}

function rowLabel(job: ListedJob): string {
  return job.Line === undefined ? 'schedule.csv' : `schedule.csv line ${job.Line}`;
}

export interface Outcome {
  /** `ok`, `error`, `skipped: unchanged`, or `-` (never ran). */
  word: 'ok' | 'error' | 'skipped: unchanged' | '-';
  message: string | undefined;
}

/** The daemon's structured outcome: `ok`, `error` with its LastError, or none yet. */
export function outcomeOf(job: ListedJob): Outcome {
  switch (job.LastOutcome) {
    case 'ok':
      return { word: 'ok', message: undefined };
    case 'skipped: unchanged':
      return { word: job.LastOutcome, message: undefined };
    case 'error':
      return { word: 'error', message: job.LastError ?? undefined };
    default:
      return { word: '-', message: undefined };
  }
}

function stateOf(job: ListedJob): string {
  if (job.Invalid !== undefined) return '(invalid)';
  if (job.Active === 'False') return '(paused)';
  return job.Running === true ? '(running)' : '';
}

function nextRunOf(job: ListedJob): string {
  if (job.Invalid !== undefined) return 'never';
  if (job.Active === 'False') return '-';
  return formatTime(job.NextRun);
}

/** The table, then what a table cell cannot hold: each last error and each invalid row's reason. */
export function scheduleTable(jobs: readonly ListedJob[]): string {
  const rows = jobs.map((job) => [
    job.Action === '' ? '-' : shellWord(job.Action),
    job.Timer === '' ? '-' : shellWord(job.Timer),
    job.Name === '' ? '-' : shellWord(job.Name),
    stateOf(job),
    formatTime(job.LastRun),
    outcomeOf(job).word,
    nextRunOf(job),
  ]);
  const table = formatTable([
    ['ACTION', 'TIMER', 'VOLUME', '', 'LAST RUN', 'OUTCOME', 'NEXT RUN'],
    ...rows,
  ]);
  const errors = jobs.flatMap((job) => {
    const { message } = outcomeOf(job);
    return job.Invalid === undefined && message ? [`  ${scheduleWords(job)}: ${message}`] : [];
  });
  const invalid = jobs.flatMap((job) =>
    job.Invalid === undefined ? [] : [`  ${rowLabel(job)}: ${job.Invalid}`],
  );
  return [
    table,
    ...(errors.length > 0 ? ['', 'Last errors:', ...errors] : []),
    ...(invalid.length > 0
      ? [
          '',
          'Invalid rows (they never run; fix them in schedule.csv or remove them with',
          '`buttervolume schedule <action> delete <volume>`):',
          ...invalid,
        ]
      : []),
  ].join('\n');
}

export class ScheduledCommand extends DaemonCommand {
  static override paths = [['scheduled']];
  static override usage = Command.Usage({
    description: 'list the scheduled jobs, or pause or resume all of them',
    details: `
      \`list\` (the default) prints each job as \`<action> <timer> <volume>\`, the words
      \`schedule\` takes (a cron timer single-quoted, so a line can be pasted back after
      \`buttervolume schedule\`), with \`(paused)\` after a paused job and the reason after a
      schedule.csv row that never runs. On a terminal (or with \`--long\`) it also shows when
      each job last ran, how that went (the last errors below the table), and when it runs
      next. \`pause\` and \`resume\` act on every job at once.
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
      return this.print(answer.Schedule.map((job) => scheduleLine(job)).join('\n'));
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
