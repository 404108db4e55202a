// Host storage set-up for `buttervolume init`: detect btrfs, else create, format and
// loop-mount a btrfs image, with a systemd mount unit so it comes back after a reboot.
export { applyPlan, type InitStorageResult, initStorage } from './apply.js';
export { StorageError, type StorageErrorCode } from './errors.js';
export { inspectStorage, type PathState } from './inspect.js';
export {
  DEFAULT_IMAGE_PATH,
  DEFAULT_LABEL,
  DEFAULT_SIZE,
  DEFAULT_SNAPSHOTS_PATH,
  DEFAULT_UNIT_DIR,
  DEFAULT_VOLUMES_PATH,
  describeStep,
  type InitStorageOptions,
  planStorage,
  type Step,
  type StoragePlan,
} from './plan.js';
export { MIN_IMAGE_BYTES, parseSize } from './size.js';
export { mountUnitName, systemdEscapePath } from './systemd-escape.js';
export { type MountUnitOptions, renderMountUnit, type UnitFile, wantsLink } from './units.js';
