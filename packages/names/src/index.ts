// Names are parsed once, where they enter (HTTP body, CLI argument, schedule.csv, directory
// listing); inner code takes these branded types and never re-checks.
export { InvalidNameError, type NameKind } from './errors.js';
export { HostName } from './host.js';
export { ProjectName } from './project.js';
export {
  MarkerName,
  type NameFormat,
  SnapshotName,
  type SnapshotParts,
  snapshotFormatProblem,
  type VolumeSource,
  volumeOf,
} from './snapshot.js';
export { MAX_VOLUME_NAME_LENGTH, VolumeName } from './volume.js';
