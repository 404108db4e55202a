import { describeStep, type InitStorageResult, initStorage } from '@buttervolume/storage';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.js';

export function initReport(result: InitStorageResult, installUnits: boolean): string {
  const lines: string[] = [];
  if (result.steps.length === 0) {
    lines.push(`${result.volumesPath} and ${result.snapshotsPath} are on btrfs: nothing to do.`);
  } else {
    lines.push(result.applied ? 'Done:' : 'Would do (dry run, nothing changed):');
    for (const step of result.steps) lines.push(`  ${describeStep(step)}`);
  }
  if (!installUnits && !result.alreadyBtrfs) {
    lines.push('', 'Install this unit so the filesystem is mounted again after a reboot:');
    for (const unit of result.units) lines.push(`# ${unit.name}`, unit.content.trimEnd());
  }
  return lines.join('\n');
}

export class InitCommand extends BaseCommand {
  static override paths = [['init']];
  static override usage = Command.Usage({
    description: 'prepare btrfs storage for the volumes and snapshots folders',
    details: `
      When VOLUMES_PATH and SNAPSHOTS_PATH already are on btrfs, only creates missing folders.
      Otherwise creates a sparse image file, formats it as btrfs, loop-mounts it on their
      common parent and installs a systemd mount unit so it comes back after a reboot.
      Never formats or mounts over existing data. \`--dry-run\` shows the steps only.
    `,
    examples: [
      ['See what would be done', '$0 init --dry-run'],
      ['Create a 50G image-backed btrfs', '$0 init --size 50G'],
      ['Do it without systemd (prints the unit instead)', '$0 init --no-units'],
    ],
  });

  size = Option.String('--size', {
    description: 'Size of the image file when one is needed (sparse), e.g. 20G',
  });
  image = Option.String('--image', {
    description: 'Image file path (default /var/lib/buttervolume.img)',
  });
  mountPoint = Option.String('--mount-point', {
    description: 'Where to mount it (default: the common parent of the two folders)',
  });
  units = Option.Boolean('--units', true, {
    description: 'Install a systemd mount unit (--no-units prints it)',
  });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Show the steps; change nothing' });

  protected async run(): Promise<void> {
    const config = this.config();
    const result = await initStorage({
      volumesPath: config.volumesPath,
      snapshotsPath: config.snapshotsPath,
      installUnits: this.units,
      dryRun: this.dryRun,
      ...(this.size === undefined ? {} : { size: this.size }),
      ...(this.image === undefined ? {} : { imagePath: this.image }),
      ...(this.mountPoint === undefined ? {} : { mountPoint: this.mountPoint }),
    });
    if (this.json) return this.printJson({ Err: '', ...result });
    this.print(initReport(result, this.units));
  }
}
