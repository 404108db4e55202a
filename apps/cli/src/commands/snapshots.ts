import { MarkerName, SnapshotName } from '@buttervolume/names';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';
import { formatAge, formatTable } from '../format.js';

export interface SnapshotRow {
  name: string;
  volume: string;
  /** undefined when the name does not parse with DTFORMAT (a stray subvolume). */
  timestamp: Date | undefined;
  /** For a send marker: the host that holds the snapshot. */
  host: string | undefined;
}

export function describeSnapshot(name: string, format: string): SnapshotRow {
  if (SnapshotName.is(name, { format })) {
    const parts = SnapshotName.split(name, { format });
    return { name, volume: parts.volume, timestamp: parts.timestamp, host: undefined };
  }
  if (MarkerName.is(name, { format })) {
    const { snapshot, host } = MarkerName.split(name);
    const parts = SnapshotName.split(snapshot, { format });
    return { name, volume: parts.volume, timestamp: parts.timestamp, host };
  }
  return { name, volume: name.split('@')[0] ?? name, timestamp: undefined, host: undefined };
}

/** Oldest first within each volume, like `ls -tr`, so the newest is next to the prompt. */
export function snapshotTable(rows: readonly SnapshotRow[], now: Date): string {
  const sorted = [...rows].sort(
    (a, b) =>
      a.volume.localeCompare(b.volume) ||
      (a.timestamp?.getTime() ?? 0) - (b.timestamp?.getTime() ?? 0) ||
      a.name.localeCompare(b.name),
  );
  const lines = sorted.map((row) => [
    row.name,
    row.volume,
    row.timestamp ? formatAge(now.getTime() - row.timestamp.getTime()) : '?',
    row.host ? `send marker: ${row.host} holds it` : '',
  ]);
  return formatTable([['SNAPSHOT', 'VOLUME', 'AGE', ''], ...lines]);
}

export class SnapshotsCommand extends DaemonCommand {
  static override paths = [['snapshots']];
  static override usage = Command.Usage({
    description: 'list snapshots, of every volume or of one',
    details: `
      On a terminal, shows a table with each snapshot's volume and age. When the output is a
      pipe or a file, prints one name a line, as buttervolume 3.x did (\`--long\` forces the
      table, \`--json\` prints the daemon's answer).
    `,
    examples: [
      ['List every snapshot', '$0 snapshots'],
      ["List pgdata's snapshots", '$0 snapshots pgdata'],
      ['One name a line, for scripts', '$0 snapshots pgdata | tail -n 1'],
    ],
  });

  volume = Option.String({ name: 'volume', required: false });
  long = Option.Boolean('-l,--long', false, {
    description: 'Show the table even when not on a terminal',
  });

  protected async run(): Promise<void> {
    const volume = this.volume === undefined ? undefined : this.volumeName(this.volume);
    const answer = await this.client().snapshots(volume);
    if (this.json) return this.printJson(answer);
    if (!(this.context.tty || this.long)) return this.print(answer.Snapshots.join('\n'));
    if (answer.Snapshots.length === 0) {
      return this.print(volume === undefined ? 'No snapshots.' : `No snapshots of ${volume}.`);
    }
    const { format } = this.nameFormat();
    const rows = answer.Snapshots.map((name) => describeSnapshot(name, format));
    this.print(snapshotTable(rows, this.context.now()));
  }
}
