import { InvalidPatternError } from './errors.js';

/** Minutes per unit; a year is 365 days, as in 3.x. */
export const UNIT_MINUTES = { m: 1, h: 60, d: 1440, w: 10_080, y: 525_600 } as const;

/** 3.x has no limit; 32 items is far more than any real schedule and keeps hostile input cheap. */
export const MAX_PATTERN_ITEMS = 32;
/** Longest pattern text we read at all (32 items of up to 15 characters fit). */
export const MAX_PATTERN_LENGTH = 512;
/** 10,000 years: any longer item is a typo, and ages stay exact integers in milliseconds. */
export const MAX_ITEM_MINUTES = 10_000 * UNIT_MINUTES.y;

export type PatternUnit = keyof typeof UNIT_MINUTES;

/** One `<n><unit>` item: its text as written and its length in whole minutes. */
export interface RetentionItem {
  readonly text: string;
  readonly minutes: number;
}

declare const patternBrand: unique symbol;

/**
 * A checked pattern: items sorted ascending by minutes (duplicates kept, as 3.x keeps them:
 * `2h:2h` is valid). One item (`2h`) keeps what is not older than it, as 3.13 does. Only
 * parsePattern makes one, so inner code never re-checks.
 */
export interface RetentionPattern {
  readonly kind: 'pattern';
  readonly text: string;
  readonly items: readonly RetentionItem[];
  readonly [patternBrand]: true;
}

const ITEM_RE = /^([0-9]+)([mhdwy])$/;

/** Parses `4h:1d:2w:2y`-style text (or `2h`); throws InvalidPatternError saying which item and why. */
export function parsePattern(text: string): RetentionPattern {
  if (typeof text !== 'string') {
    throw new InvalidPatternError(String(text), String(text), 'the pattern must be text');
  }
  if (text.length === 0) throw new InvalidPatternError(text, text, 'the pattern is empty');
  if (text.length > MAX_PATTERN_LENGTH) {
    throw new InvalidPatternError(text, text, `longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const parts = text.split(':');
  if (parts.length > MAX_PATTERN_ITEMS) {
    throw new InvalidPatternError(text, text, `more than ${MAX_PATTERN_ITEMS} items`);
  }
  const items = parts.map((part) => parseItem(text, part));
  // Array.prototype.sort is stable: equal items keep the order they were written in.
  items.sort((a, b) => a.minutes - b.minutes);
  return Object.freeze({ kind: 'pattern', text, items: Object.freeze(items) }) as RetentionPattern;
}

function parseItem(pattern: string, item: string): RetentionItem {
  const match = ITEM_RE.exec(item);
  if (!match) throw new InvalidPatternError(pattern, item, whyNotAnItem(item));
  const digits = match[1]!;
  const unit = match[2] as PatternUnit;
  // Beyond 16 digits Number() rounds; such an item is far over the limit anyway.
  const count = digits.length > 16 ? Number.POSITIVE_INFINITY : Number(digits);
  if (count === 0) throw new InvalidPatternError(pattern, item, 'the count must be at least 1');
  const minutes = count * UNIT_MINUTES[unit];
  if (!(minutes <= MAX_ITEM_MINUTES)) {
    throw new InvalidPatternError(pattern, item, 'longer than 10000 years');
  }
  return Object.freeze({ text: item, minutes });
}

function whyNotAnItem(item: string): string {
  if (item.length === 0) return 'an empty item (a ":" at an end, or two in a row)';
  if (/\s/.test(item)) return 'whitespace is not allowed';
  if (/^[+-]/.test(item)) return 'the count must be a positive whole number without a sign';
  const last = item[item.length - 1]!;
  const body = item.slice(0, -1);
  if (/^[0-9]+$/.test(item)) return 'the unit is missing (use m, h, d, w or y)';
  if (/^[a-z]+$/i.test(item))
    return 'not a count followed by a unit (calendar terms are written unit=count, e.g. daily=7)';
  if (/^[0-9]+$/.test(body)) return `unknown unit "${last}" (use m, h, d, w or y)`;
  if (/^[0-9]*[.,][0-9]*$/.test(body)) return 'the count must be a whole number';
  return 'not a count followed by a unit';
}
