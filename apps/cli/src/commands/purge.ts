import type { PurgeResponse } from '@buttervolume/api';
import { parsePolicy } from '@buttervolume/retention';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';
import { formatTable } from '../format.js';

export function purgeReport(
  answer: Pick<PurgeResponse, 'Purged' | 'Decisions'> & { Err?: string },
  volume: string,
  dryrun: boolean,
  host?: string,
): string {
  const decisions = answer.Decisions ?? [];
  const purged = answer.Purged ?? [];
  const kept = decisions.filter((decision) => decision.Action === 'keep').length;
  const what = host === undefined ? `snapshot(s) of ${volume}` : `copies of ${volume} on ${host}`;
  const head = dryrun
    ? `Would purge ${purged.length} ${what} and keep ${kept} (dry run: nothing deleted).`
    : `Purged ${purged.length} ${what}, kept ${kept}.`;
  if (decisions.length === 0) return purged.length === 0 ? head : `${head}\n${purged.join('\n')}`;
  const rows = decisions.map((decision) => [
    decision.Action === 'purge' ? (dryrun ? 'would purge' : 'purged') : 'keep',
    decision.Name,
    decision.Reason,
  ]);
  return `${head}\n${formatTable(rows)}`;
}

export class PurgeCommand extends DaemonCommand {
  static override paths = [['purge']];
  static override usage = Command.Usage({
    description: "delete a volume's snapshots that a retention pattern or policy does not keep",
    details: `
      A pattern is one or more \`<n><unit>\` items joined by \`:\` (units m, h, d, w, y).
      \`4h:1d:2w:2y\` keeps every snapshot younger than 4h, one per 4h up to 1d, one a day up to
      2w, one per 2 weeks up to 2y, and deletes older ones; \`2h\` keeps what is not older than
      2h. A calendar policy such as \`hourly=24,daily=7,weekly=4,monthly=12,yearly=all,min=1d\`
      keeps the newest snapshot of each of the last 24 hours, 7 days, 4 weeks (from Monday, or
      \`weekstart=sun\`…), 12 months and every year, and all younger than \`min\`. Snapshots whose name has no
      timestamp, and the newest send marker per host with its snapshot, are never purged.
      \`--dryrun\` shows what would go and why, and deletes nothing. A bad pattern is refused
      (exit status 2) before the daemon is asked.

      With \`--host\`, the policy applies to that host's copies of the volume (what sends put
      in its snapshots folder) instead, over ssh: one command lists them, one deletes. The copy
      the next incremental send to that host starts from is always kept.
    `,
    examples: [
      ['See what a pattern would delete', '$0 purge --dryrun 4h:1d:2w:2y pgdata'],
      ['Purge', '$0 purge 4h:1d:2w:2y pgdata'],
      [
        'Keep one a day for a week and one a month for a year',
        '$0 purge daily=7,monthly=12 pgdata',
      ],
      ["Thin out backup-1's copies", '$0 purge --host backup-1 --dryrun daily=7,weekly=8 pgdata'],
    ],
  });

  dryrun = Option.Boolean('--dryrun,--dry-run', false, {
    description: 'Show what would be deleted; delete nothing',
  });
  host = Option.String('--host', {
    description: "Purge this host's copies of the volume, not the local snapshots",
  });
  pattern = Option.String({ name: 'pattern|policy' });
  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    const volume = this.volumeName(this.volume);
    // The daemon's own parser: a bad pattern is a usage error (exit 2), and nothing is sent.
    parsePolicy(this.pattern);
    const host = this.host === undefined ? undefined : this.hostName(this.host);
    const answer = await this.client().purge(volume, this.pattern, {
      dryrun: this.dryrun,
      ...(host === undefined ? {} : { host }),
    });
    if (this.json) return this.printJson(answer);
    this.print(purgeReport(answer, volume, this.dryrun, host));
  }
}
