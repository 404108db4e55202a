import { requestSchemas } from '@buttervolume/api';
import type { ContainerSummary } from '@buttervolume/docker';
import { VolumeName } from '@buttervolume/names';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import type { HookRun } from '../services/groups.js';
import { readRequest } from '../validation.js';
import type { Handlers } from './handlers.js';

/** Docker-aware endpoints: group snapshots with hooks and pause, set restores, containers. */
export function groupHandlers(deps: AppDeps) {
  const schemas = requestSchemas({ format: deps.dtFormat });

  return {
    groupSnapshot: async (c) => {
      const body = await readRequest(c, schemas.groupSnapshot);
      const result = await required(deps).snapshot({
        volumes: body.Volumes ?? [],
        project: body.Project,
        pause: body.Pause,
        hooks: body.Hooks,
      });
      return c.json({
        Err: '',
        Snapshots: result.snapshots,
        Timestamp: result.timestamp,
        Paused: result.paused,
        PauseMs: result.pauseMs ?? null,
        TotalMs: result.totalMs,
        Hooks: result.hooks.map(hookReport),
      });
    },

    restoreSet: async (c) => {
      const body = await readRequest(c, schemas.restoreSet);
      const restored = await required(deps).restoreSet(body.Name, {
        volumes: body.Volumes,
        force: body.Force,
      });
      return c.json({
        Err: '',
        Restored: restored.map((r) => ({
          Volume: r.target,
          Snapshot: r.restored,
          VolumeBackup: r.volumeBackup ?? null,
        })),
      });
    },

    volumeContainers: async (c) => {
      const { Name } = await readRequest(c, schemas.volumeContainers);
      const containers = await required(deps).containersOf(Name);
      return c.json({ Err: '', Containers: containers.map(containerInfo) });
    },

    project: async (c) => {
      const { Name } = await readRequest(c, schemas.project);
      const { containers, volumes } = await required(deps).project(Name);
      return c.json({ Err: '', Containers: containers.map(containerInfo), Volumes: volumes });
    },
  } satisfies Partial<Handlers>;
}

function required(deps: AppDeps): NonNullable<AppDeps['groups']> {
  if (deps.groups) return deps.groups;
  throw new PluginError('NOT_WIRED', 'group snapshots are not available in this daemon');
}

function containerInfo(c: ContainerSummary) {
  return {
    Id: c.id,
    Name: c.name,
    State: c.state,
    Volumes: c.volumes.filter((v) => VolumeName.is(v)),
  };
}

function hookReport(run: HookRun) {
  return {
    Container: run.container,
    Phase: run.phase,
    Argv: [...run.argv],
    ExitCode: run.exitCode ?? null,
    TimedOut: run.timedOut,
    Stdout: run.stdout,
    Stderr: run.stderr,
    Truncated: run.truncated,
    Ms: run.ms,
    Ok: run.ok,
    ...(run.error === undefined ? {} : { Error: run.error }),
  };
}
