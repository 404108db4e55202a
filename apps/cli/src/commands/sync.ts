import type { SyncResponse } from '@buttervolume/api';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export function syncSummary(
  answer: SyncResponse,
  volume: string,
  hosts: readonly string[],
): string {
  const lines = [`Synchronized ${volume} from ${hosts.join(', ')}`];
  const safety = answer.Snapshots ?? [];
  if (safety.length > 0) lines.push(`safety snapshot(s) taken before: ${safety.join(', ')}`);
  return lines.join('\n');
}

export class SyncCommand extends DaemonCommand {
  static override paths = [['sync']];
  static override usage = Command.Usage({
    description: 'pull a volume from the same-named volume on other hosts (rsync over ssh)',
    details: `
      A safety snapshot of the local volume is taken first. Each host is tried even when an
      earlier one fails; the failures are reported together (exit status 1).
      \`--delete\` also removes local files that the host does not have.
    `,
    examples: [
      ['Pull pgdata from node-2', '$0 sync pgdata node-2'],
      ['Pull from two hosts, deleting what they lack', '$0 sync --delete pgdata node-2 node-3'],
    ],
  });

  delete = Option.Boolean('--delete', false, {
    description: 'Delete local files missing on the host',
  });
  volume = Option.String({ name: 'volume' });
  hosts = Option.Rest({ name: 'host', required: 1 });

  protected async run(): Promise<void> {
    const volume = this.volumeName(this.volume);
    const hosts = this.hosts.map((host) => this.hostName(host));
    const answer = await this.client().sync([volume], hosts, this.delete ? { delete: true } : {});
    if (this.json) return this.printJson(answer);
    this.print(syncSummary(answer, volume, hosts));
  }
}
