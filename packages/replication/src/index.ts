// @buttervolume/replication: snapshots to other hosts (btrfs send | ssh btrfs receive, with
// send markers for incremental sends) and volumes from other hosts (rsync over ssh).
//
//   const replicator = new Replicator({ btrfs: new Btrfs(), snapshotsPath, volumesPath,
//     ssh: { port: Number(process.env.SSH_PORT ?? 22) } });
//   await replicator.send(SnapshotName.parse(raw), HostName.parse(host), { onProgress });
//   await replicator.sync(VolumeName.parse(v), hosts.map(HostName.parse), { delete: true });
export {
  ReplicationError,
  type ReplicationErrorCode,
  type ReplicationErrorDetails,
  type ReplicationStep,
  SyncFailedError,
} from './errors.js';
export { type Marker, type MarkerPlan, markersFor } from './markers.js';
export type { Progress } from './progress.js';
export type { RemotePurgeResult } from './remote-purge.js';
export {
  type RemotePurgeOptions,
  type ReplicationBtrfs,
  Replicator,
  type ReplicatorOptions,
  type SendResult,
  type SendSnapshotOptions,
} from './replicator.js';
export {
  type SshOptions,
  type SshSettings,
  sshArgv,
  sshSettings,
} from './ssh.js';
export type {
  SyncHostResult,
  SyncOptions,
  SyncResult,
} from './sync.js';
