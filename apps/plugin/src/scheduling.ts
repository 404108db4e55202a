// The scheduler inside the daemon: schedule.csv from SCHEDULE, a pass every TIMER seconds, and
// an executor that runs each job through the same services as the HTTP endpoints (so a
// scheduled snapshot takes the volume's lock like a requested one).
import type { Config } from '@buttervolume/config';
import type { HostName, SnapshotName, VolumeName } from '@buttervolume/names';
import type { RetentionPolicy } from '@buttervolume/retention';
import {
  type GroupMembers,
  type Job,
  type JobExecutor,
  Scheduler,
  type SchedulerOptions,
  ScheduleStore,
} from '@buttervolume/scheduler';
import { PluginError } from './errors.js';
import type { Logger } from './log.js';
import type { GroupRequest } from './services/groups.js';
import type { Services } from './services/index.js';

/**
 * What replicate and synchronize jobs need; `Replicator` from @buttervolume/replication has
 * this shape. Give the daemon's one instance, so scheduled and requested sends of the same
 * (volume, host) are serialised together.
 */
export interface ReplicationPort {
  send(
    snapshot: SnapshotName,
    host: HostName,
    options: { signal?: AbortSignal; purge?: RetentionPolicy },
  ): Promise<unknown>;
  sync(
    volume: VolumeName,
    hosts: readonly HostName[],
    options: { signal?: AbortSignal },
  ): Promise<unknown>;
}

/** Daemon options for the scheduler; tests shorten time with `clock` and `timerSeconds`. */
export interface SchedulingOptions {
  replication?: ReplicationPort;
  /** Default: TIMER from the config. */
  timerSeconds?: number;
  clock?: () => Date;
  /** Told of every finished job run (the metrics count them). */
  onJobFinished?: SchedulerOptions['onJobFinished'];
  /** Default: SCHEDULER_CONCURRENCY. */
  concurrency?: number;
  /** Default: JOB_TIMEOUT minutes. */
  jobTimeoutMs?: number;
  /** How long running jobs may take to finish at shutdown before they are aborted (STOP_GRACE). */
  stopGraceMs?: number;
}

export interface Scheduling {
  readonly store: ScheduleStore;
  readonly scheduler: Scheduler;
  readonly stopGraceMs: number;
}

export function createScheduling(
  config: Config,
  deps: { services: Services; logger: Logger },
  options: SchedulingOptions = {},
): Scheduling {
  const store = new ScheduleStore(config.schedule);
  const schedulerOptions: SchedulerOptions = {
    store,
    execute: createJobExecutor(deps.services, options.replication),
    timerSeconds: options.timerSeconds ?? config.timer,
    logger: deps.logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onJobFinished ? { onJobFinished: options.onJobFinished } : {}),
    concurrency: options.concurrency ?? config.schedulerConcurrency,
    jobTimeoutMs: options.jobTimeoutMs ?? config.jobTimeoutMinutes * 60_000,
  };
  return {
    store,
    scheduler: new Scheduler(schedulerOptions),
    stopGraceMs: options.stopGraceMs ?? config.stopGraceSeconds * 1000,
  };
}

/**
 * snapshot → take a snapshot (snapshot:skip-unchanged: unless the volume is unchanged since
 * its newest one); replicate:<host> → snapshot, then send it (then, with purge=<policy>,
 * that policy applied to the host's copies; the snapshot is removed again if the send fails, as 3.x does, so a host that is down does not pile up
 * snapshots); purge:<pattern> → purge; synchronize:<hosts> → snapshot (the state before the
 * pull), then rsync from each host under the volume's job lock. group-snapshot:<members> →
 * one set of the volume and its members (hooks, pause); group-replicate:<members>:<host> →
 * that, then each snapshot of the set sent to the host.
 */
export function createJobExecutor(
  services: Services,
  replication: ReplicationPort | undefined,
): JobExecutor {
  return async (job: Job, signal: AbortSignal) => {
    const { action, volume } = job;
    switch (action.kind) {
      case 'snapshot':
        if (!action.skipUnchanged) {
          await services.snapshots.create(volume);
          return;
        }
        return (await services.snapshots.createIfChanged(volume)).taken
          ? undefined
          : { skipped: 'unchanged' };
      case 'purge':
        await services.snapshots.purge(volume, action.pattern, false);
        return;
      case 'replicate': {
        const port = required(replication, job);
        // The host already holds what the volume holds: nothing to take, nothing to send.
        if (
          action.skipUnchanged &&
          (await services.snapshots.unchangedSinceSent(volume, action.host))
        ) {
          return { skipped: 'unchanged' };
        }
        const snapshot = await services.snapshots.create(volume);
        try {
          signal.throwIfAborted();
          await port.send(snapshot, action.host, {
            signal,
            ...(action.hostPurge ? { purge: action.hostPurge } : {}),
          });
        } catch (error) {
          // The snapshot is on the host when only the purge there failed: keep it here too.
          if (!(error instanceof PluginError && error.code === 'HOST_PURGE_FAILED')) {
            await services.snapshots.remove(snapshot).catch(logUndoFailure(services, snapshot));
          }
          throw error;
        }
        return;
      }
      case 'synchronize': {
        const port = required(replication, job);
        await services.snapshots.create(volume);
        signal.throwIfAborted();
        await services.context.locks.job(volume, 'sync', () =>
          port.sync(volume, action.hosts, { signal }),
        );
        return;
      }
      case 'group-snapshot':
        await services.groups.snapshot(groupRequest(volume, action.members));
        return;
      case 'group-replicate': {
        const port = required(replication, job);
        const { snapshots } = await services.groups.snapshot(groupRequest(volume, action.members));
        // Every snapshot of the set is sent; one that could not be is removed again (as
        // replicate does), the others stay with their markers.
        const failures: string[] = [];
        for (const snapshot of snapshots) {
          try {
            signal.throwIfAborted();
            await port.send(snapshot, action.host, { signal });
          } catch (error) {
            await services.snapshots.remove(snapshot).catch(logUndoFailure(services, snapshot));
            failures.push(`${snapshot}: ${(error as Error).message}`);
          }
        }
        if (failures.length > 0) {
          throw new PluginError(
            'GROUP_SNAPSHOT_FAILED',
            `${job.actionText}: ${failures.length} of ${snapshots.length} sends failed: ${failures.join('; ')}`,
          );
        }
        return;
      }
    }
  };
}

function groupRequest(volume: VolumeName, members: GroupMembers): GroupRequest {
  return members.kind === 'project'
    ? { volumes: [volume], project: members.project }
    : { volumes: [volume, ...members.volumes] };
}

function required(replication: ReplicationPort | undefined, job: Job): ReplicationPort {
  if (replication) return replication;
  throw new PluginError(
    'NOT_WIRED',
    `cannot run ${job.actionText} of ${job.volume}: this daemon was started without replication`,
  );
}

/** A snapshot taken for a send that failed could not be removed again: say so, keep going. */
function logUndoFailure(services: Services, snapshot: string): (error: unknown) => void {
  return (error) =>
    services.context.logger.error('could not remove the snapshot of a failed send', {
      snapshot,
      error,
    });
}
