// Request bodies parsed once, at the HTTP boundary, into typed values. Until @buttervolume/api
// ships runtime schemas, these hand-written parsers are the per-endpoint validators; names go
// through @buttervolume/names so nothing unparsed reaches a path or a command.
import { parseSize } from '@buttervolume/btrfs';
import { MarkerName, SnapshotName, VolumeName } from '@buttervolume/names';
import { InvalidRequestError } from './errors.js';
import type { VolumeSource } from './services/volumes.js';

export type Body = Record<string, unknown>;

/** Largest body we read: Docker's requests are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** JSON object from the raw body; an empty body is `{}` (Docker sends none for Activate/List). */
export function parseBody(endpoint: string, text: string): Body {
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InvalidRequestError(
      endpoint,
      `the body is not valid JSON (${(error as Error).message})`,
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InvalidRequestError(
      endpoint,
      `the body must be a JSON object, got ${describe(data)}`,
    );
  }
  return data as Body;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

function required(endpoint: string, body: Body, field: string): unknown {
  const value = body[field];
  if (value === undefined || value === null) {
    throw new InvalidRequestError(endpoint, `missing field "${field}"`);
  }
  return value;
}

export function volumeField(endpoint: string, body: Body, field = 'Name'): VolumeName {
  return VolumeName.parse(required(endpoint, body, field));
}

export function optionalVolumeField(body: Body, field: string): VolumeName | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  return VolumeName.parse(value);
}

export function stringField(endpoint: string, body: Body, field: string): string {
  const value = required(endpoint, body, field);
  if (typeof value !== 'string') {
    throw new InvalidRequestError(
      endpoint,
      `field "${field}" must be a string, got ${describe(value)}`,
    );
  }
  return value;
}

/** Docker's mount ID; old Docker versions sent none. */
export function optionalIdField(endpoint: string, body: Body): string | undefined {
  const value = body.ID;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 256) {
    throw new InvalidRequestError(
      endpoint,
      `field "ID" must be a non-empty string of at most 256 characters`,
    );
  }
  return value;
}

/** A boolean flag; the strings "true"/"false" too, as shell-built clients send them. */
export function boolField(endpoint: string, body: Body, field: string, fallback: boolean): boolean {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new InvalidRequestError(
    endpoint,
    `field "${field}" must be true or false, got ${JSON.stringify(value)}`,
  );
}

/** A snapshot name, or a volume name (no '@'). */
export function sourceField(
  endpoint: string,
  body: Body,
  field: string,
  format: string,
): VolumeSource {
  const value = required(endpoint, body, field);
  if (typeof value === 'string' && value.includes('@')) {
    return { kind: 'snapshot', name: SnapshotName.parse(value, { format }) };
  }
  return { kind: 'volume', name: VolumeName.parse(value) };
}

/** A snapshot or a send marker (both live in SNAPSHOTS_PATH and `buttervolume rm` takes both). */
export function snapshotOrMarkerField(
  endpoint: string,
  body: Body,
  format: string,
): SnapshotName | MarkerName {
  const value = required(endpoint, body, 'Name');
  if (SnapshotName.is(value, { format })) return value;
  if (MarkerName.is(value, { format })) return value;
  return SnapshotName.parse(value, { format });
}

export interface CreateOpts {
  copyOnWrite: boolean;
  sizeBytes: number | undefined;
  from: VolumeSource | undefined;
}

const CREATE_OPTS = ['copyonwrite', 'size', 'from'] as const;

/** Docker's `-o key=value` options, all strings. */
export function createOpts(endpoint: string, body: Body, format: string): CreateOpts {
  const opts = body.Opts;
  const result: CreateOpts = { copyOnWrite: true, sizeBytes: undefined, from: undefined };
  if (opts === undefined || opts === null) return result;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new InvalidRequestError(
      endpoint,
      `field "Opts" must be an object, got ${describe(opts)}`,
    );
  }
  const valid = `valid options: ${CREATE_OPTS.join(', ')}`;
  for (const [key, value] of Object.entries(opts)) {
    if (!(CREATE_OPTS as readonly string[]).includes(key)) {
      throw new InvalidRequestError(
        endpoint,
        `unknown option ${JSON.stringify(key.slice(0, 64))}; ${valid}`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidRequestError(
        endpoint,
        `option "${key}" must be a string, got ${describe(value)}`,
      );
    }
  }
  const raw = opts as Record<string, string>;
  if (raw.copyonwrite !== undefined) {
    if (raw.copyonwrite !== 'true' && raw.copyonwrite !== 'false') {
      throw new InvalidRequestError(
        endpoint,
        `option copyonwrite must be "true" or "false", got ${JSON.stringify(raw.copyonwrite.slice(0, 64))}`,
      );
    }
    result.copyOnWrite = raw.copyonwrite === 'true';
  }
  if (raw.size !== undefined) {
    result.sizeBytes = parseSize(raw.size);
    if (result.sizeBytes <= 0) {
      throw new InvalidRequestError(endpoint, 'option size must be more than 0 bytes, e.g. 10G');
    }
  }
  if (raw.from !== undefined) {
    result.from = sourceField(endpoint, raw, 'from', format);
    if (!result.copyOnWrite) {
      // chattr +C only applies to files created afterwards; the data of a snapshot stays CoW.
      throw new InvalidRequestError(
        endpoint,
        'option copyonwrite=false cannot be combined with from: a snapshot shares its data copy-on-write',
      );
    }
  }
  return result;
}
