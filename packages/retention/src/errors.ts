import { showValue } from '@buttervolume/text';
/** A purge pattern we refuse: 3.x answered a bare "Invalid purge pattern"; we also say why. */
export class InvalidPatternError extends Error {
  readonly code = 'INVALID_PATTERN';
  constructor(
    /** The whole pattern as given. */
    readonly pattern: string,
    /** The offending item (or the whole pattern when the fault is not in one item). */
    readonly item: string,
    /** Why, in words, e.g. `unknown unit "x" (use m, h, d, w or y)`. */
    readonly reason: string,
  ) {
    super(
      `Invalid purge pattern ${showValue(pattern)}: ${item === pattern ? '' : `item ${showValue(item)}: `}${reason}. ` +
        `A pattern is one or more <n><unit> items joined by ":", unit m, h, d, w or y, e.g. 4h:1d:2w:2y or 2h; ` +
        `or use a calendar policy such as ${CALENDAR_EXAMPLE}`,
    );
    this.name = 'InvalidPatternError';
  }
}

export const CALENDAR_EXAMPLE = 'hourly=24,daily=7,weekly=4,monthly=12,yearly=all,min=1d';

/**
 * A calendar policy we refuse. A subclass of InvalidPatternError, so every place that already
 * answers a bad pattern with a usage error answers a bad policy the same way.
 */
export class InvalidPolicyError extends InvalidPatternError {
  constructor(policy: string, term: string, reason: string) {
    super(policy, term, reason);
    this.message =
      `Invalid calendar policy ${showValue(policy)}: ${term === policy ? '' : `term ${showValue(term)}: `}${reason}. ` +
      'A calendar policy is <unit>=<count> terms joined by ",", units hourly, daily, weekly, ' +
      'monthly, yearly (count a whole number from 1 to 100000, or all), plus optional ' +
      `min=<n>min|h|d|w and weekstart=mon..sun, e.g. ${CALENDAR_EXAMPLE}`;
    this.name = 'InvalidPolicyError';
  }
}

/** A strftime format we cannot both write and read back exactly. */
export class UnsupportedFormatError extends Error {
  readonly code = 'UNSUPPORTED_TIMESTAMP_FORMAT';
  constructor(
    readonly format: string,
    readonly reason: string,
  ) {
    super(
      `Unsupported timestamp format ${showValue(format)}: ${reason}. ` +
        'Supported directives: %Y %m %d %H %M %S %f %% and literal text',
    );
    this.name = 'UnsupportedFormatError';
  }
}

/** A Date that cannot become a snapshot timestamp (invalid, or outside years 1-9999). */
export class InvalidDateError extends Error {
  readonly code = 'INVALID_DATE';
  constructor(readonly date: Date) {
    super(
      `Cannot format ${Number.isNaN(date.getTime()) ? 'an invalid date' : date.toISOString()} as a snapshot timestamp: the year must be 1 to 9999`,
    );
    this.name = 'InvalidDateError';
  }
}

/** A time zone name the platform does not know. */
export class InvalidTimeZoneError extends Error {
  readonly code = 'INVALID_TIME_ZONE';
  constructor(
    readonly timeZone: string,
    options?: ErrorOptions,
  ) {
    super(
      `Unknown time zone ${showValue(timeZone)}: use an IANA zone name such as Europe/Paris or UTC`,
      options,
    );
    this.name = 'InvalidTimeZoneError';
  }
}
