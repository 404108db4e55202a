import { resolve } from 'node:path';

/** An absolute path with no empty, `.` or `..` segment and no trailing slash: resolve() keeps it. */
const NORMAL_ABSOLUTE = /^(?:\/(?!\.\.?(?:\/|$))[^/]+)+$/;

/** resolve(), without its cost for a path that is already absolute and normal (2,000 a purge). */
export function resolved(path: string): string {
  return NORMAL_ABSOLUTE.test(path) ? path : resolve(path);
}
