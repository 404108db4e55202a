// @buttervolume/health: is every volume protected? Pure verdicts (OK / WARN / CRIT with a
// reason) from what the daemon knows of a volume, and the Nagios plugin line of `check`.
export {
  type AgeCheck,
  type Assessment,
  assess,
  CRIT_PERIODS,
  limitsOf,
  type Problem,
  type ProblemCode,
  verdictOf,
  verdictUntil,
  WARN_PERIODS,
  worst,
} from './assess.js';
export {
  CHECK_EXIT,
  type CheckReport,
  checkReport,
  InvalidThresholdError,
  parseDuration,
  parseThresholds,
  type ThresholdOptions,
} from './check.js';
export type {
  JobFacts,
  JobKind,
  Limits,
  SendFacts,
  Thresholds,
  Verdict,
  VolumeFacts,
} from './facts.js';
export { formatAge } from './format.js';
