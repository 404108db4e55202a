import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class SnapshotCommand extends DaemonCommand {
  static override paths = [['snapshot']];
  static override usage = Command.Usage({
    description: 'take a read-only snapshot of a volume',
    details: 'Prints the new snapshot name, `<volume>@<timestamp>`.',
    examples: [
      ['Snapshot the volume pgdata', '$0 snapshot pgdata'],
      ['Get the daemon answer as JSON', '$0 snapshot pgdata --json'],
    ],
  });

  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    const answer = await this.client().snapshot(this.volumeName(this.volume));
    if (this.json) this.printJson(answer);
    else {
      this.print(answer.Snapshot);
      // stdout stays the bare name scripts capture; what the snapshot lacks goes to stderr.
      if (answer.Warning) this.context.stderr.write(`warning: ${answer.Warning}\n`);
    }
  }
}
