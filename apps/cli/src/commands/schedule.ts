import { parseRequest, type ScheduleTimer, scheduleRequestSchema } from '@buttervolume/api';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export function describeScheduling(action: string, timer: ScheduleTimer, volume: string): string {
  switch (timer.kind) {
    case 'minutes':
      return `Scheduled ${action} of ${volume} every ${timer.minutes} min`;
    case 'cron':
      return `Scheduled ${action} of ${volume} at cron "${timer.expression}"`;
    case 'delete':
      return `Removed the scheduled ${action} of ${volume}`;
    case 'pause':
      return `Paused the scheduled ${action} of ${volume}`;
    case 'resume':
      return `Resumed the scheduled ${action} of ${volume}`;
  }
}

export class ScheduleCommand extends DaemonCommand {
  static override paths = [['schedule']];
  static override usage = Command.Usage({
    description: 'add, change, pause, resume or remove a scheduled job',
    details: `
      \`<action>\` is \`snapshot\`, \`purge:<pattern>\`, \`replicate:<host>\` or
      \`synchronize:<host>[,<host>…]\`. \`<timer>\` is a number of minutes (add or replace the
      job), \`0\` or \`delete\` (remove it), \`pause\`, \`resume\`, or a 5-field cron expression
      in one argument (\`"30 2 * * *"\`).
    `,
    examples: [
      ['Snapshot pgdata every hour', '$0 schedule snapshot 60 pgdata'],
      ['Purge its snapshots every hour', '$0 schedule purge:4h:1d:2w:1y 60 pgdata'],
      [
        'Send a snapshot to backup-1 every night at 02:30',
        '$0 schedule replicate:backup-1 "30 2 * * *" pgdata',
      ],
      ['Pause that job', '$0 schedule replicate:backup-1 pause pgdata'],
      ['Remove it', '$0 schedule replicate:backup-1 delete pgdata'],
    ],
  });

  action = Option.String({ name: 'action' });
  timer = Option.String({ name: 'timer' });
  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    // The daemon's own schema: the same words are refused here (exit 2) as there.
    const job = parseRequest(scheduleRequestSchema, {
      Name: this.volume,
      Action: this.action,
      Timer: this.timer,
    });
    const answer = await this.client().schedule(job.Name, job.Action, this.timer.trim());
    if (this.json) this.printJson(answer);
    else this.print(describeScheduling(job.Action, job.Timer, job.Name));
  }
}
