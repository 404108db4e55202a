import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';

// What a node's daemon runs on another node, over ssh, for replicated volumes (see "Running
// on a Docker Swarm" in the README). Usable by hand too, to see who owns a volume.

export class ReplicaCommand extends DaemonCommand {
  static override paths = [['replica']];
  static override usage = Command.Usage({
    description: "show this node's view of a replicated volume (owner, epoch, replicas)",
    examples: [['Who owns pgdata, as this node knows it', '$0 replica pgdata']],
  });

  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    const answer = await this.client().replica(this.volumeName(this.volume));
    if (this.json) return this.printJson(answer);
    if (answer.State === 'none') return this.print(`${this.volume} is not replicated here`);
    this.print(
      `${this.volume}: ${answer.State === 'owner' ? 'owned by this node' : `owned by ${answer.Owner}`}, epoch ${answer.Epoch}, replicas ${answer.Replicas.join(',')}`,
    );
  }
}

export class HandOverCommand extends DaemonCommand {
  static override paths = [['handover']];
  static override usage = Command.Usage({
    description: 'hand a replicated volume this node owns over to another node',
    details: `
      Waits until no container mounts the volume here, takes a final snapshot, sends it to
      the node and records that it owns the volume. The new owner's daemon calls this over
      ssh on its real Mount; there is rarely a reason to call it by hand.
    `,
    examples: [['Hand pgdata over to node n2', '$0 handover --to n2 pgdata']],
  });

  to = Option.String('--to', { required: true, description: 'the node taking the volume over' });
  have = Option.String('--have', {
    description: 'the newest snapshot of the volume that node holds (nothing is sent if unchanged)',
  });
  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    const answer = await this.client().handOver(
      this.volumeName(this.volume),
      this.hostName(this.to),
      // Waiting for containers to stop, then sending, may take longer than a quick call.
      { timeoutMs: 0, have: this.have === undefined ? undefined : this.snapshotName(this.have) },
    );
    if (this.json) return this.printJson(answer);
    this.print(
      `Handed ${this.volume} over to ${this.to} (${answer.Snapshot}, epoch ${answer.Epoch})`,
    );
  }
}
