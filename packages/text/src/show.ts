/**
 * A value as an error message shows it: a string quoted (JSON), cut after `max` characters
 * with its length said, so a 10 kB name or field cannot flood a log line or an HTTP answer; a
 * number as written; anything else by its type, e.g. `(object)`, `(null)`.
 */
export function showValue(value: unknown, max = 64): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value})`;
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(`${value.slice(0, max)}…`)} (${value.length} characters)`;
}
