import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class RmCommand extends DaemonCommand {
  static override paths = [['rm']];
  static override usage = Command.Usage({
    description: 'delete a snapshot',
    details:
      'Only snapshots (`<volume>@<timestamp>`); volumes are removed with `docker volume rm`.',
    examples: [['Delete a snapshot', '$0 rm pgdata@2026-11-24T19:13:40.123456']],
  });

  snapshot = Option.String({ name: 'snapshot' });

  protected async run(): Promise<void> {
    const snapshot = this.snapshotName(this.snapshot);
    const answer = await this.client().removeSnapshot(snapshot);
    if (this.json) return this.printJson(answer);
    this.print(`Deleted ${snapshot}`);
  }
}
