import type { VolumeHealthEntry } from '@buttervolume/api';
import { assess, CHECK_EXIT, checkReport, parseThresholds } from '@buttervolume/health';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';
import { factsOf } from './status.js';

/** What a monitoring system reads when the check itself cannot tell: exit 3 and why. */
export function unknownLine(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/[\r\n]+/g, ' ')
    .replaceAll('|', '/');
  return `BUTTERVOLUME UNKNOWN - ${message}`;
}

export class CheckCommand extends DaemonCommand {
  static override paths = [['check']];
  static override usage = Command.Usage({
    description: 'a Nagios/Icinga check: are the snapshots and sends recent enough?',
    details: `
      Prints one line, \`BUTTERVOLUME <OK|WARNING|CRITICAL|UNKNOWN> - <summary> | <perfdata>\`,
      and exits 0, 1, 2 or 3 as monitoring plugins do. Each volume (every volume, or those
      named) is judged like \`buttervolume status\` does: without thresholds, its newest
      snapshot is late past 2 periods of its schedule (WARNING) and lost past 4 (CRITICAL),
      and the last successful send to each host likewise; a failing or paused job, a paused
      schedule and a volume that needs attention are reported too. \`--snapshot-warn/-crit\`
      and \`--send-warn/-crit\` set the ages for every volume instead (45s, 90m, 2h, 1d, 1w).
      Perfdata gives each age in seconds with its limits. An unknown volume, a bad threshold
      or a daemon that does not answer is UNKNOWN (3).
    `,
    examples: [
      ['Every volume, limits from the schedule', '$0 check'],
      ['One volume, fixed limits', '$0 check --snapshot-warn 2h --snapshot-crit 6h pgdata'],
      ['Sends at least daily', '$0 check --send-warn 26h --send-crit 50h'],
    ],
  });

  snapshotWarn = Option.String('--snapshot-warn', {
    description: 'WARNING when the newest snapshot is older (e.g. 2h)',
  });
  snapshotCrit = Option.String('--snapshot-crit', {
    description: 'CRITICAL when the newest snapshot is older (e.g. 6h)',
  });
  sendWarn = Option.String('--send-warn', {
    description: 'WARNING when the last successful send to a host is older (e.g. 26h)',
  });
  sendCrit = Option.String('--send-crit', {
    description: 'CRITICAL when the last successful send to a host is older (e.g. 50h)',
  });
  volumes = Option.Rest({ name: 'volume' });

  override async execute(): Promise<number> {
    try {
      const thresholds = parseThresholds({
        snapshotWarn: this.snapshotWarn,
        snapshotCrit: this.snapshotCrit,
        sendWarn: this.sendWarn,
        sendCrit: this.sendCrit,
      });
      const names = this.volumes.map((raw) => this.volumeName(raw));
      const client = this.client();
      const entries: VolumeHealthEntry[] = [];
      if (names.length === 0) entries.push(...(await client.status()).Volumes);
      for (const name of names) entries.push(...(await client.status(name)).Volumes);
      const now = this.context.now().getTime();
      const report = checkReport(entries.map((e) => assess(factsOf(e), now, thresholds)));
      this.print(report.line);
      return report.exitCode;
    } catch (error) {
      this.print(unknownLine(error));
      return CHECK_EXIT.UNKNOWN;
    }
  }

  protected async run(): Promise<void> {
    // execute() does the work: a check answers every failure as UNKNOWN, never as exit 1 or 2.
  }
}
