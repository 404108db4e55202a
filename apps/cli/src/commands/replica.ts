import { HostName } from '@buttervolume/names';
import { Command, Option, UsageError } from 'clipanion';
import { DaemonCommand } from '../base.js';

// What a node's daemon runs on another node, over ssh, for replicated volumes (see "Running
// on a Docker Swarm" in the README). Usable by hand too, to see who owns a volume.

export class ReplicaCommand extends DaemonCommand {
  static override paths = [['replica']];
  static override usage = Command.Usage({
    description:
      "show this node's view of a replicated volume (owner, epoch, replicas), or change its replica set",
    details: `
      Without options, shows who owns the volume as this node knows it. --set, --add and
      --remove change the replica set, on the owner only; each takes nodes as replicas= does
      (host names or addresses, comma-separated). --set replaces the whole set; --add and
      --remove may be given together. An added node gets the next increment (a full send,
      started at once). A removed node is no longer sent to: its copy (snapshots and record)
      stays there, never deleted. Update the stack file's replicas= to the new set.
    `,
    examples: [
      ['Who owns pgdata, as this node knows it', '$0 replica pgdata'],
      ['Add node4 to the nodes that keep a copy of pgdata', '$0 replica --add node4 pgdata'],
      ['Replace node3 by node4', '$0 replica --add node4 --remove node3 pgdata'],
      ['Set the whole replica set', '$0 replica --set node1,node2,node4 pgdata'],
    ],
  });

  set = Option.String('--set', { description: 'the whole new replica set: node1,node2,…' });
  add = Option.String('--add', { description: 'nodes to add to the replica set' });
  remove = Option.String('--remove', { description: 'nodes to remove from the replica set' });
  volume = Option.String({ name: 'volume' });

  protected async run(): Promise<void> {
    const volume = this.volumeName(this.volume);
    if (this.set !== undefined && (this.add !== undefined || this.remove !== undefined)) {
      throw new UsageError('give either --set, or --add and/or --remove');
    }
    if (this.set !== undefined || this.add !== undefined || this.remove !== undefined) {
      return this.change(volume);
    }
    const answer = await this.client().replica(volume);
    if (this.json) return this.printJson(answer);
    if (answer.State === 'none') return this.print(`${this.volume} is not replicated here`);
    this.print(
      `${this.volume}: ${answer.State === 'owner' ? 'owned by this node' : `owned by ${answer.Owner}`}, epoch ${answer.Epoch}, replicas ${answer.Replicas.join(',')}`,
    );
  }

  private async change(volume: string): Promise<void> {
    const hosts = (raw: string) => HostName.parseList(raw);
    const answer = await this.client().replicaSet(volume, {
      ...(this.set !== undefined ? { set: hosts(this.set) } : {}),
      ...(this.add !== undefined ? { add: hosts(this.add) } : {}),
      ...(this.remove !== undefined ? { remove: hosts(this.remove) } : {}),
    });
    if (this.json) return this.printJson(answer);
    if (answer.Added.length === 0 && answer.Removed.length === 0) {
      return this.print(`${volume}: replicas ${answer.Replicas.join(',')} (unchanged)`);
    }
    const parts = [
      answer.Added.length ? `added ${answer.Added.join(',')} (the next increment goes there)` : '',
      answer.Removed.length
        ? `removed ${answer.Removed.join(',')} (no longer sent to; its copy is kept there)`
        : '',
    ].filter(Boolean);
    this.print(`${volume}: replicas ${answer.Replicas.join(',')}; ${parts.join('; ')}`);
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
