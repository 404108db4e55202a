// @buttervolume/plugin: the daemon. `buttervolume run` calls runDaemon(); tests and embedders
// use startDaemon(config) or createApp(deps) with app.request().
export { createApp } from './app.js';
export {
  createDaemonApp,
  type Daemon,
  type DaemonApp,
  type DaemonOptions,
  runDaemon,
  startDaemon,
} from './daemon.js';
export { type AppDeps, type AppServices, packageVersion } from './deps.js';
export {
  DaemonStartError,
  NoSuchSnapshotError,
  NoSuchVolumeError,
  PluginError,
  type PluginErrorCode,
  VolumeExistsError,
  VolumeInUseError,
} from './errors.js';
export { createLogger, type Logger, type LoggerOptions, silentLogger } from './log.js';
export { DaemonMetrics, type MetricsSources } from './metrics.js';
export { type MetricsListener, serveMetrics } from './metrics-listener.js';
export {
  createJobExecutor,
  createScheduling,
  type ReplicationPort,
  type Scheduling,
  type SchedulingOptions,
} from './scheduling.js';
export { RESTORE_STEPS, type RestoreStep, type ServiceContext } from './services/context.js';
export {
  type HealthReport,
  HealthService,
  type SchedulerView,
  type VolumeHealth,
} from './services/health.js';
export { createServices, type Services } from './services/index.js';
export { Layout } from './services/layout.js';
export { VolumeLocks } from './services/locks.js';
export { MountTable } from './services/mounts.js';
export type { RestoreRequest, RestoreResult, RestoreService } from './services/restore.js';
export type { PurgeResult, SnapshotService } from './services/snapshots.js';
export type {
  CreateVolumeOptions,
  VolumeDetails,
  VolumeService,
  VolumeStatus,
} from './services/volumes.js';
