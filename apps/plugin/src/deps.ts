// What the HTTP layer is given. Its own module, so routes and app.ts both import it and
// neither imports the other.
import { readFileSync } from 'node:fs';
import type { Logger } from './log.js';
import type { DaemonMetrics } from './metrics.js';
import type { Scheduling } from './scheduling.js';
import type { GroupSnapshotService } from './services/groups.js';
import type { HealthService } from './services/health.js';
import type { ReplicaService } from './services/replicas.js';
import type { ReplicationService } from './services/replication.js';
import type { RestoreService } from './services/restore.js';
import type { SnapshotService } from './services/snapshots.js';
import type { VolumeService } from './services/volumes.js';

/**
 * The services as the routes use them: only the methods a handler calls, so a unit test can
 * hand createApp plain objects (see app.test.ts). `createServices()` gives the real ones.
 */
export interface AppServices {
  volumes: Pick<
    VolumeService,
    'create' | 'remove' | 'mount' | 'path' | 'unmount' | 'get' | 'list' | 'clone' | 'exists'
  >;
  snapshots: Pick<SnapshotService, 'take' | 'list' | 'remove' | 'purge'>;
  restore: Pick<RestoreService, 'restore'>;
  /** VOLUMES_PATH: List answers each volume's mountpoint under it. */
  volumesPath: string;
  /** Replicated volumes (replicas=); without it Create refuses replicas and peers get an Err. */
  replicas?: Pick<
    ReplicaService,
    'create' | 'mount' | 'unmount' | 'record' | 'view' | 'handOver' | 'changeSet'
  >;
}

/** What the HTTP layer needs; a feature that adds an endpoint adds its handle here. */
export interface AppDeps {
  services: AppServices;
  logger: Logger;
  /** strftime format of snapshot timestamps (DTFORMAT). */
  dtFormat: string;
  /** Answered by GET /Buttervolume.Version (default: this package's version). */
  version?: string;
  /** schedule.csv and the runner; without it the Schedule endpoints answer an Err. */
  scheduling?: { store: Scheduling['store']; scheduler: Pick<Scheduling['scheduler'], 'status'> };
  /** Send and sync; without it Snapshot.Send and Volume.Sync answer an Err. */
  replication?: Pick<ReplicationService, 'send' | 'sync' | 'transfers' | 'purgeHost'>;
  /** Volume health for Status and Get; without it Status answers an Err and Get omits it. */
  health?: Pick<HealthService, 'report' | 'volume' | 'brief'>;
  /** GET /metrics and the request-latency histogram; without it /metrics is a 404. */
  metrics?: Pick<DaemonMetrics, 'scrape' | 'request'>;
  /** Group snapshots, set restores, containers from Docker; without it those answer an Err. */
  groups?: Pick<GroupSnapshotService, 'snapshot' | 'restoreSet' | 'containersOf' | 'project'>;
}

let cachedVersion: string | undefined;

/** This package's version, read once from package.json (next to both src/ and dist/). */
export function packageVersion(): string {
  if (cachedVersion === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  }
  return cachedVersion;
}
