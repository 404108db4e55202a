import type { GroupSnapshotResponse } from '@buttervolume/api';
import { ProjectName } from '@buttervolume/names';
import { Command, Option, UsageError } from 'clipanion';
import { DaemonCommand } from '../base.js';

export class SnapshotCommand extends DaemonCommand {
  static override paths = [['snapshot']];
  static override usage = Command.Usage({
    description: 'take a read-only snapshot of a volume, or of several at one instant',
    details: `
      Prints the new snapshot name, \`<volume>@<timestamp>\`.

      With several volumes, or \`--project\`, or \`--consistent\`, the snapshots are one set:
      the daemon runs the \`buttervolume.pre-snapshot\` hook of each container that mounts them
      (inside that container), pauses those containers, snapshots every volume with one
      timestamp, unpauses them and runs their \`buttervolume.post-snapshot\` hooks. This needs
      Docker's socket (BUTTERVOLUME_DOCKER_SOCKET). \`restore --set\` restores such a set.
    `,
    examples: [
      ['Snapshot the volume pgdata', '$0 snapshot pgdata'],
      ['Snapshot two volumes at one instant', '$0 snapshot pgdata uploads'],
      ['Snapshot every volume of a compose project', '$0 snapshot --project shop'],
      ['Get the daemon answer as JSON', '$0 snapshot pgdata --json'],
    ],
  });

  project = Option.String('--project', {
    description: 'Also snapshot the volumes of this compose project (com.docker.compose.project)',
  });
  consistent = Option.Boolean('--consistent', false, {
    description: 'Run hooks and pause containers even for a single volume',
  });
  pause = Option.Boolean('--pause', true, {
    description: 'Pause the containers that mount the volumes (--no-pause: hooks only)',
  });
  hooks = Option.Boolean('--hooks', true, {
    description: "Run the containers' pre/post-snapshot hooks (--no-hooks: pause only)",
  });
  volumes = Option.Rest({ name: 'volume' });

  protected async run(): Promise<void> {
    const volumes = this.volumes.map((v) => this.volumeName(v));
    const project = this.project === undefined ? undefined : ProjectName.parse(this.project);
    if (volumes.length === 0 && project === undefined) {
      throw new UsageError('name a volume to snapshot (or several, or --project <name>)');
    }
    const group = volumes.length > 1 || project !== undefined || this.consistent;
    if (!group) {
      const answer = await this.client().snapshot(volumes[0] as string);
      if (this.json) return this.printJson(answer);
      this.print(answer.Snapshot);
      // stdout stays the bare name scripts capture; what the snapshot lacks goes to stderr.
      if (answer.Warning) this.context.stderr.write(`warning: ${answer.Warning}\n`);
      return;
    }
    const answer = await this.client().groupSnapshot({
      ...(volumes.length > 0 ? { Volumes: volumes } : {}),
      ...(project === undefined ? {} : { Project: project }),
      ...(this.pause ? {} : { Pause: false }),
      ...(this.hooks ? {} : { Hooks: false }),
    });
    if (this.json) this.printJson(answer);
    else this.print(groupSummary(answer));
  }
}

/** The snapshot names, one a line, then what was paused and how each hook went. */
export function groupSummary(answer: GroupSnapshotResponse): string {
  const lines = [...answer.Snapshots];
  if (answer.Paused.length > 0) {
    lines.push(`# paused ${answer.Paused.join(', ')} for ${answer.PauseMs} ms`);
  }
  for (const hook of answer.Hooks) {
    const status = hook.TimedOut ? 'timed out' : (hook.Error ?? `exit ${hook.ExitCode}`);
    lines.push(`# ${hook.Phase}-snapshot hook in ${hook.Container}: ${status} (${hook.Ms} ms)`);
  }
  return lines.join('\n');
}
