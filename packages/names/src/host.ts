import { isIP } from 'node:net';
import { InvalidNameError } from './errors.js';

/** A host name or IP address that ssh and rsync can only read as a destination. */
export type HostName = string & { readonly __brand: 'HostName' };

// RFC 1123 labels; never starts with '-' (ssh would read an option), no '@' or ':' (user and
// port are settings, not part of the name), no shell syntax.
const LABEL_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const RULE =
  'use a host name (letters, digits, "-" and "." labels, not starting with "-") or an IP address';

function isHostName(raw: string): boolean {
  if (raw.length === 0 || raw.length > 253) return false;
  if (isIP(raw) !== 0) return true;
  return raw.split('.').every((label) => LABEL_RE.test(label));
}

export const HostName = {
  parse(raw: unknown): HostName {
    if (typeof raw !== 'string' || !isHostName(raw)) throw new InvalidNameError('host', raw, RULE);
    return raw as HostName;
  },
  /** `h1,h2` or `h1, h2` (replicas, synchronize): each item trimmed, then parsed. */
  parseList(text: string): HostName[] {
    return text.split(',').map((item) => HostName.parse(item.trim()));
  },
  is(raw: unknown): raw is HostName {
    return typeof raw === 'string' && isHostName(raw);
  },
};
