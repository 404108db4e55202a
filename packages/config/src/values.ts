// Parsers for single config values. Each returns the value or a reason (no throw), so the
// caller can name the variable and where it came from in one ConfigError.
import { parseByteSize } from '@buttervolume/text';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (reason: string): Parsed<never> => ({ ok: false, reason });

/** configparser's getboolean() words. */
export function parseBoolean(text: string): Parsed<boolean> {
  const word = text.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(word)) return ok(true);
  if (['0', 'no', 'false', 'off'].includes(word)) return ok(false);
  return bad(`"${text}" is not true or false`);
}

/** A whole number from `min` to `max`, e.g. a port or a count. */
export function parseWholeNumber(text: string, min: number, max: number): Parsed<number> {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    return bad(`"${text}" is not a whole number from ${min} to ${max}`);
  }
  return ok(value);
}

/** "50M", "512k", "1.5G", "1048576" (bytes per second, binary units; "B", "/s" allowed). */
export function parseBandwidth(text: string): Parsed<number> {
  const bytes = parseByteSize(text, { perSecond: true });
  if (bytes === undefined || bytes <= 0) {
    return bad(`"${text}" is not a rate such as 50M, 512K or 1048576 (bytes per second, > 0)`);
  }
  return ok(bytes);
}

// These end up in ssh's argument list and, through rsync's -e, in a string rsync splits on
// spaces: letters, digits and a few punctuation marks only, no quotes, spaces or shell syntax.
const SAFE_PATH_RE = /^\/[A-Za-z0-9_.,+@%=:/-]*$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const OPTION_RE = /^[A-Za-z][A-Za-z0-9]*=[A-Za-z0-9_.,+@%:/=-]+$/;

/** An absolute path without `..`, spaces, quotes or shell syntax. */
export function parseSafePath(text: string): Parsed<string> {
  if (!SAFE_PATH_RE.test(text) || text.split('/').includes('..')) {
    return bad(
      `"${text}" is not an absolute path of letters, digits and _ . , + @ % = : / - (no "..")`,
    );
  }
  return ok(text);
}

export function parseUser(text: string): Parsed<string> {
  if (!USER_RE.test(text)) return bad(`"${text}" is not a plain user name ([a-z_][a-z0-9_-]*)`);
  return ok(text);
}

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new';

export function parseStrictHostKeyChecking(text: string): Parsed<StrictHostKeyChecking> {
  const word = text.trim().toLowerCase();
  if (word === 'yes' || word === 'no' || word === 'accept-new') return ok(word);
  return bad(`"${text}" is not yes, no or accept-new`);
}

/**
 * `Key=Value` ssh options separated by spaces or commas. A comma followed by something that is
 * not `Key=` belongs to the value (`Ciphers=aes128-gcm@openssh.com,aes256-ctr`).
 */
export function parseSshOptions(text: string): Parsed<string[]> {
  const options: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    for (const piece of word.split(',')) {
      if (/^[A-Za-z][A-Za-z0-9]*=/.test(piece) || options.length === 0) options.push(piece);
      else options[options.length - 1] += `,${piece}`;
    }
  }
  for (const option of options) {
    if (option.startsWith('-')) {
      return bad(`"${option}" starts with "-": give options as Key=Value, without -o`);
    }
    if (!OPTION_RE.test(option)) {
      return bad(
        `"${option}" is not Key=Value of letters, digits and _ . , + @ % : / = - (no spaces, quotes or shell syntax)`,
      );
    }
  }
  return ok(options);
}

/** Where a TCP listener binds. */
export interface ListenAddress {
  host: string;
  port: number;
}

const IPV4_RE =
  /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * `9101` or `:9101` (loopback: 127.0.0.1), `127.0.0.1:9101`, `0.0.0.0:9101`, `[::1]:9101`,
 * `localhost:9101`. Host names other than localhost are refused: the address is bound at
 * start, before any resolver is trusted, and a typo must never widen it to a public address.
 */
export function parseListenAddress(text: string): Parsed<ListenAddress> {
  const trimmed = text.trim();
  const fail = bad(
    `"${text}" is not a port or host:port (e.g. 9101 for loopback, 127.0.0.1:9101, 0.0.0.0:9101, [::1]:9101)`,
  );
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:([0-9]+)$/.exec(trimmed);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (!IPV6_RE.test(host) || !host.includes(':')) return fail;
  } else if (/^:?[0-9]+$/.test(trimmed)) {
    host = '127.0.0.1';
    portText = trimmed.replace(/^:/, '');
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon <= 0) return fail;
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host === 'localhost') host = '127.0.0.1';
    else if (!IPV4_RE.test(host)) return fail;
  }
  const port = parseWholeNumber(portText, 1, 65535);
  if (!port.ok) return bad(`"${text}": the port must be a whole number from 1 to 65535`);
  return ok({ host, port: port.value });
}
