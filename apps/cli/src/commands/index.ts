// Every command of the `buttervolume` command line, in the order its usage lists them.
import { CheckCommand } from './check.js';
import { CloneCommand } from './clone.js';
import { InitCommand } from './init.js';
import { PurgeCommand } from './purge.js';
import { HandOverCommand, ReplicaCommand } from './replica.js';
import { RestoreCommand } from './restore.js';
import { RmCommand } from './rm.js';
import { RunCommand } from './run.js';
import { ScheduleCommand } from './schedule.js';
import { ScheduledCommand } from './scheduled.js';
import { SendCommand } from './send.js';
import { SnapshotCommand } from './snapshot.js';
import { SnapshotsCommand } from './snapshots.js';
import { StatusCommand } from './status.js';
import { SyncCommand } from './sync.js';

export const COMMANDS = [
  RunCommand,
  InitCommand,
  SnapshotCommand,
  SnapshotsCommand,
  ScheduleCommand,
  ScheduledCommand,
  RestoreCommand,
  CloneCommand,
  SendCommand,
  SyncCommand,
  RmCommand,
  PurgeCommand,
  StatusCommand,
  CheckCommand,
  ReplicaCommand,
  HandOverCommand,
] as const;
