import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class CloneCommand extends DaemonCommand {
  static override paths = [['clone']];
  static override usage = Command.Usage({
    description: 'create a new volume as a writable copy of a volume or snapshot',
    details:
      'The copy is a btrfs snapshot: instant, and it shares unchanged blocks with the source.',
    examples: [
      ['Copy pgdata to pgdata-test', '$0 clone pgdata pgdata-test'],
      ['Copy a snapshot', '$0 clone pgdata@2026-11-24T19:13:40.123456 pgdata-old'],
    ],
  });

  source = Option.String({ name: 'volume' });
  target = Option.String({ name: 'target' });

  protected async run(): Promise<void> {
    const source = this.sourceName(this.source);
    const target = this.volumeName(this.target);
    const answer = await this.client().clone(source, target);
    if (this.json) return this.printJson(answer);
    this.print(`Cloned ${source} into ${answer.VolumeCloned || target}`);
  }
}
