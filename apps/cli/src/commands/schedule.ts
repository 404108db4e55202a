import { type ScheduleCommand as JobCommand, parseScheduleRequest } from '@buttervolume/scheduler';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export function describeScheduling(command: JobCommand): string {
  if (command.kind === 'set') {
    const { job } = command;
    const when =
      job.timer.kind === 'interval'
        ? `every ${job.timer.minutes} min`
        : `at cron "${job.timer.expression}"`;
    return `Scheduled ${job.actionText} of ${job.volume} ${when}`;
  }
  const verb = { remove: 'Removed', pause: 'Paused', resume: 'Resumed' }[command.kind];
  return `${verb} the scheduled ${command.action} of ${command.name}`;
}

export class ScheduleCommand extends DaemonCommand {
  static override paths = [['schedule']];
  static override usage = Command.Usage({
    description: 'add, change, pause, resume or remove a scheduled job',
    details: `
      \`<action>\` is \`snapshot\`, \`snapshot:skip-unchanged\`, \`purge:<pattern>\`,
      \`replicate:<host>\`, \`replicate:<host>,skip-unchanged\` or
      \`synchronize:<host>[,<host>…]\` (\`skip-unchanged\`: no snapshot, no send while btrfs
      says the volume is unchanged since the last one). \`<timer>\` is a number of minutes (add or replace the
      job), \`0\` or \`delete\` (remove it), \`pause\`, \`resume\`, or a 5-field cron expression
      in one argument (\`"30 2 * * *"\`). An unknown action, a bad purge pattern, host or timer
      is refused (exit status 2) before the daemon is asked.
    `,
    examples: [
      ['Snapshot pgdata every hour', '$0 schedule snapshot 60 pgdata'],
      [
        'Snapshot uploads every hour, unless unchanged',
        '$0 schedule snapshot:skip-unchanged 60 uploads',
      ],
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
    const timer = this.timer.trim();
    // The daemon's own parser (a purge pattern included): what it would refuse is refused
    // here, as a usage error (exit 2), before anything is sent. Removing, pausing or resuming
    // compares text only, as there, so a bad row that 3.x let in can still be removed.
    const command = parseScheduleRequest({ Name: this.volume, Action: this.action, Timer: timer });
    const answer = await this.client().schedule(this.volume, this.action, timer);
    if (this.json) this.printJson(answer);
    else this.print(describeScheduling(command));
  }
}
