import type { RestoreResponse } from '@buttervolume/api';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class RestoreCommand extends DaemonCommand {
  static override paths = [['restore']];
  static override usage = Command.Usage({
    description: 'replace a volume with a snapshot',
    details: `
      The target volume (by default the snapshot's own volume) is first snapshotted, so
      nothing is lost, then replaced by a writable copy of the snapshot. Given a volume name
      instead of a snapshot, its latest snapshot is restored. A volume used by a running
      container is refused unless \`--force\` is given; stop the container first.
    `,
    examples: [
      ['Restore a snapshot into its volume', '$0 restore pgdata@2026-11-24T19:13:40.123456'],
      ["Restore pgdata's latest snapshot", '$0 restore pgdata'],
      ['Restore into another volume', '$0 restore pgdata@2026-11-24T19:13:40.123456 pgdata-test'],
    ],
  });

  source = Option.String({ name: 'snapshot|volume' });
  target = Option.String({ name: 'target', required: false });
  force = Option.Boolean('-f,--force', false, {
    description: 'Restore even when a running container uses the target volume',
  });

  protected async run(): Promise<void> {
    const source = this.sourceName(this.source);
    const target = this.target === undefined ? undefined : this.volumeName(this.target);
    const answer = await this.client().restore(source, {
      ...(target === undefined ? {} : { target }),
      ...(this.force ? { force: true } : {}),
    });
    if (this.json) return this.printJson(answer);
    this.print(restoreSummary(answer, source, target));
  }
}

/**
 * The daemon names a backup only when the target existed (it snapshots it first); restoring
 * into a new volume replaces nothing, and the sentence must not claim otherwise.
 */
export function restoreSummary(
  answer: Partial<RestoreResponse>,
  source: string,
  target: string | undefined,
): string {
  const restored = answer.Restored ?? source;
  const into = target ?? restored.split('@')[0] ?? restored;
  const backup = answer.VolumeBackup;
  if (typeof backup === 'string' && backup !== '') {
    return `Restored ${restored} into ${into}; its previous content is snapshot ${backup}`;
  }
  return `Restored ${restored} into ${into}, a new volume (${into} did not exist: no backup was needed)`;
}
