import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class RmCommand extends DaemonCommand {
  static override paths = [['rm']];
  static override usage = Command.Usage({
    description: 'delete a snapshot or a send marker',
    details: `
      Only snapshots (\`<volume>@<timestamp>\`) and send markers
      (\`<volume>@<timestamp>@<host>\`); volumes are removed with \`docker volume rm\`.
      Deleting a host's newest marker makes the next send to that host a full one.
    `,
    examples: [
      ['Delete a snapshot', '$0 rm pgdata@2026-11-24T19:13:40.123456'],
      ['Delete a send marker', '$0 rm pgdata@2026-11-24T19:13:40.123456@backup-1'],
    ],
  });

  snapshot = Option.String({ name: 'snapshot' });

  protected async run(): Promise<void> {
    const snapshot = this.snapshotOrMarkerName(this.snapshot);
    const answer = await this.client().removeSnapshot(snapshot);
    if (this.json) return this.printJson(answer);
    this.print(`Deleted ${snapshot}`);
  }
}
