import { InvalidNameError } from './errors.js';

/** A volume name that is safe as a single path component and as a command argument. */
export type VolumeName = string & { readonly __brand: 'VolumeName' };

// Docker's own rule for local volume names. It also rules out `@` (our snapshot separator),
// `/`, `..` as a whole name, a leading `-` or `.`, spaces, quotes and shell syntax.
const VOLUME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Leaves room in a 255-byte file name for `@<timestamp>@<host>` (send markers). */
export const MAX_VOLUME_NAME_LENGTH = 128;
const RULE = `use 2 to ${MAX_VOLUME_NAME_LENGTH} characters: letters, digits, '_', '.', '-', starting with a letter or digit`;

export const VolumeName = {
  parse(raw: unknown): VolumeName {
    if (typeof raw !== 'string' || raw.length > MAX_VOLUME_NAME_LENGTH || !VOLUME_RE.test(raw)) {
      throw new InvalidNameError('volume', raw, RULE);
    }
    return raw as VolumeName;
  },
  is(raw: unknown): raw is VolumeName {
    return typeof raw === 'string' && raw.length <= MAX_VOLUME_NAME_LENGTH && VOLUME_RE.test(raw);
  },
};
