// @buttervolume/retention: which snapshots a purge pattern keeps, and why. Pure: no Node
// built-ins, no dependencies, no clock (callers pass `now`), so a UI can preview a purge.
export {
  CALENDAR_UNITS,
  type CalendarPolicy,
  type CalendarUnit,
  isCalendarText,
  MAX_CALENDAR_COUNT,
  parseCalendarPolicy,
  parsePolicy,
  type RetentionPolicy,
} from './calendar.js';
export {
  CALENDAR_EXAMPLE,
  InvalidDateError,
  InvalidPatternError,
  InvalidPolicyError,
  InvalidTimeZoneError,
  UnsupportedFormatError,
} from './errors.js';
export {
  MAX_ITEM_MINUTES,
  MAX_PATTERN_ITEMS,
  MAX_PATTERN_LENGTH,
  type PatternUnit,
  parsePattern,
  type RetentionItem,
  type RetentionPattern,
  UNIT_MINUTES,
} from './pattern.js';
export {
  explainPurge,
  type PurgeDecision,
  type PurgeExplanation,
  type PurgeOptions,
  type PurgePlan,
  planPurge,
} from './purge.js';
export { type ParsedSnapshotName, parseSnapshotName } from './snapshot-name.js';
export { DEFAULT_TIMESTAMP_FORMAT, formatTimestamp, parseTimestamp } from './timestamp.js';
