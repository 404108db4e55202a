import type { RestoreResponse, RestoreSetResponse } from '@buttervolume/api';
import { Command, Option, UsageError } from 'clipanion';
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

      With \`--set\`, every snapshot with the same timestamp (a set taken by
      \`buttervolume snapshot vol1 vol2 …\` or \`--project\`) is restored into its own volume,
      each volume snapshotted first; no volume is touched if one of them is in use.
    `,
    examples: [
      ['Restore a snapshot into its volume', '$0 restore pgdata@2026-11-24T19:13:40.123456'],
      ["Restore pgdata's latest snapshot", '$0 restore pgdata'],
      ['Restore into another volume', '$0 restore pgdata@2026-11-24T19:13:40.123456 pgdata-test'],
      [
        'Restore the whole set taken with pgdata@… by a group snapshot',
        '$0 restore --set pgdata@2026-11-24T19:13:40.123456',
      ],
    ],
  });

  source = Option.String({ name: 'snapshot|volume' });
  target = Option.String({ name: 'target', required: false });
  force = Option.Boolean('-f,--force', false, {
    description: 'Restore even when a running container uses the target volume',
  });

  set = Option.Boolean('--set', false, {
    description: 'Restore every snapshot of the set this snapshot belongs to',
  });

  protected async run(): Promise<void> {
    if (this.set) return this.restoreSet();
    const source = this.sourceName(this.source);
    const target = this.target === undefined ? undefined : this.volumeName(this.target);
    const answer = await this.client().restore(source, {
      ...(target === undefined ? {} : { target }),
      ...(this.force ? { force: true } : {}),
    });
    if (this.json) return this.printJson(answer);
    this.print(restoreSummary(answer, source, target));
  }

  private async restoreSet(): Promise<void> {
    if (this.target !== undefined) {
      throw new UsageError('--set restores each snapshot into its own volume: give no target');
    }
    const member = this.snapshotName(this.source);
    const answer = await this.client().restoreSet(member, this.force ? { force: true } : {});
    if (this.json) return this.printJson(answer);
    this.print(restoreSetSummary(answer));
  }
}

/** One line per restored volume of a set. */
export function restoreSetSummary(answer: RestoreSetResponse): string {
  return answer.Restored.map((r) =>
    r.VolumeBackup
      ? `Restored ${r.Snapshot} into ${r.Volume}; its previous content is snapshot ${r.VolumeBackup}`
      : `Restored ${r.Snapshot} into ${r.Volume}, a new volume`,
  ).join('\n');
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
