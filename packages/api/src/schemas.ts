// One schema per request body: raw JSON in, typed values with branded names out. Messages
// are written for the person at the other end (`Name: Invalid volume name "../x": …`), so
// every field goes through our own parser. No zod: it only held the fields together (each one
// was already a transform around our parser), and importing it costs the daemon ~11 MB of RSS
// (docs/DEVELOPING.md).
import {
  HostName,
  InvalidNameError,
  MarkerName,
  ProjectName,
  SnapshotName,
  VolumeName,
  type VolumeSource,
} from '@buttervolume/names';
import { parseByteSize, showValue } from '@buttervolume/text';
import { InvalidRequestError } from './errors.js';

export interface SchemaOptions {
  /** The snapshot timestamp format (COMPAT's DTFORMAT); the names package default otherwise. */
  format?: string;
}

/** A value refused by a field parser; its message becomes the issue text. */
class FieldProblem extends Error {}

/** What was wrong with a request: the field (none for the body as a whole) and why. */
interface Issue {
  field?: string;
  message: string;
}

/**
 * A request's parser: raw JSON in, the parsed value out; each refusal is pushed on `issues`
 * (the value returned then is not used).
 */
export interface Schema<T> {
  readonly check: (raw: unknown, issues: Issue[]) => T;
}

/** The parsed value of a schema. */
export type Output<S> = S extends Schema<infer T> ? T : never;

function field<T>(parse: (value: unknown) => T): Schema<T> {
  return {
    check: (value, issues) => {
      try {
        return parse(value);
      } catch (error) {
        if (!(error instanceof FieldProblem || error instanceof InvalidNameError)) throw error;
        issues.push({ message: error.message });
        return undefined as T;
      }
    },
  };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`.slice(0, 60);
}

function required<T>(parse: (value: unknown) => T): (value: unknown) => T {
  return (value) => {
    if (value === undefined) throw new FieldProblem('required field is missing');
    return parse(value);
  };
}

// `null` is the field left out: Go clients (Docker) marshal an unset map or pointer as null.
function optional<T>(parse: (value: unknown) => T): (value: unknown) => T | undefined {
  return (value) => (value === undefined || value === null ? undefined : parse(value));
}

function string(value: unknown): string {
  if (typeof value !== 'string')
    throw new FieldProblem(`expected a string, got ${describe(value)}`);
  return value;
}

/** "true"/"false" in any case (`TRUE`, `False`), as 3.x read boolean options; else undefined. */
function booleanWord(text: string): boolean | undefined {
  const word = text.toLowerCase();
  return word === 'true' ? true : word === 'false' ? false : undefined;
}

/** JSON booleans, and the strings "true"/"false" (any case) that shell-built 3.x requests carry. */
function flag(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const word = typeof value === 'string' ? booleanWord(value) : undefined;
  if (word !== undefined) return word;
  throw new FieldProblem(`expected true or false, got ${describe(value)}`);
}

const volume = (value: unknown): VolumeName => VolumeName.parse(value);
const host = (value: unknown): HostName => HostName.parse(value);

/** The source of a restore or clone, tagged: a snapshot (`<volume>@<ts>`) or a volume. */
function source(format: string | undefined) {
  return (value: unknown): VolumeSource => {
    const text = string(value);
    if (!text.includes('@')) return { kind: 'volume', name: VolumeName.parse(text) };
    const name =
      format === undefined ? SnapshotName.parse(text) : SnapshotName.parse(text, { format });
    return { kind: 'snapshot', name };
  };
}

function snapshot(format: string | undefined) {
  return (value: unknown): SnapshotName =>
    format === undefined ? SnapshotName.parse(value) : SnapshotName.parse(value, { format });
}

/** A snapshot, or a send marker `<volume>@<ts>@<host>`: both live in SNAPSHOTS_PATH. */
function snapshotOrMarker(format: string | undefined) {
  const options = format === undefined ? {} : { format };
  return (value: unknown): SnapshotName | MarkerName => {
    if (SnapshotName.is(value, options)) return value;
    // 3.x markers may carry a host part today's host rule refuses (see parseStored).
    try {
      return MarkerName.parseStored(value, options);
    } catch {
      // Neither: the snapshot rule's message says what a name must look like.
    }
    return SnapshotName.parse(value, options);
  };
}

/** Docker's mount ID (a container ID); Docker before 1.13 sent none. Kept in mounts.json. */
function mountId(value: unknown): string {
  const text = string(value);
  if (text === '' || text.length > 256) {
    throw new FieldProblem(`expected 1 to 256 characters, got ${text.length}`);
  }
  return text;
}

function list<T>(item: (value: unknown) => T) {
  return (value: unknown): T[] => {
    if (!Array.isArray(value)) throw new FieldProblem(`expected a list, got ${describe(value)}`);
    if (value.length === 0)
      throw new FieldProblem('expected at least one entry, got an empty list');
    return value.map((entry, index) => {
      try {
        return item(entry);
      } catch (error) {
        if (error instanceof FieldProblem || error instanceof InvalidNameError) {
          throw new FieldProblem(`entry ${index}: ${error.message}`);
        }
        throw error;
      }
    });
  };
}

function opts(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new FieldProblem(`expected an object of string options, got ${describe(value)}`);
  }
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      throw new FieldProblem(`option ${showValue(key)}: expected a string, got ${describe(entry)}`);
    }
    result[key] = entry;
  }
  return result;
}

// ---- Request schemas ----------------------------------------------------------------------

type Shape = Record<string, Schema<unknown>>;
type BodyOf<S extends Shape> = { [K in keyof S]: Output<S[K]> };

/**
 * A JSON object with these fields (others are dropped): every field is checked, so one answer
 * names every bad field. `rule` is checked only once every field is good.
 */
function body<S extends Shape>(
  shape: S,
  rule?: { holds: (parsed: BodyOf<S>) => boolean; message: string },
): Schema<BodyOf<S>> {
  const keys = Object.keys(shape);
  return {
    check: (raw, issues) => {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        issues.push({ message: `the request body must be a JSON object, got ${describe(raw)}` });
        return undefined as unknown as BodyOf<S>;
      }
      const input = raw as Record<string, unknown>;
      const parsed: Record<string, unknown> = {};
      const before = issues.length;
      for (const key of keys) {
        const own = Object.hasOwn(input, key);
        const from = issues.length;
        const value = shape[key]!.check(own ? input[key] : undefined, issues);
        for (let i = from; i < issues.length; i++) issues[i]!.field = key;
        // A field left out stays out, unless its parser gives a default (Force: false).
        if (own || value !== undefined) parsed[key] = value;
      }
      const result = parsed as BodyOf<S>;
      if (rule && issues.length === before && !rule.holds(result)) {
        issues.push({ message: rule.message });
      }
      return result;
    },
  };
}

/** Endpoints that take no input: any object (or `null`, or nothing, as some clients send). */
export const emptyRequestSchema = field((value): Record<string, never> => {
  if (value === undefined || value === null) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return {};
  throw new FieldProblem(`the request body must be a JSON object, got ${describe(value)}`);
});

export const nameRequestSchema = body({ Name: field(required(volume)) });

export const createRequestSchema = body({
  Name: field(required(volume)),
  Opts: field(opts),
});

export const removeRequestSchema = body({
  Name: field(required(volume)),
  Force: field((value) => optional(flag)(value) ?? false),
});

export const mountRequestSchema = body({
  Name: field(required(volume)),
  ID: field(optional(mountId)),
});

export const unmountRequestSchema = mountRequestSchema;
export const pathRequestSchema = nameRequestSchema;
export const getRequestSchema = nameRequestSchema;
export const snapshotRequestSchema = nameRequestSchema;

/** The `<volume>` of `GET /VolumeDriver.Snapshot.List/<volume>` (already URL-decoded). */
export const volumeParamSchema = field(required(volume));

export function snapshotRemoveRequestSchema(options: SchemaOptions = {}) {
  return body({ Name: field(required(snapshotOrMarker(options.format))) });
}

export function restoreRequestSchema(options: SchemaOptions = {}) {
  return body({
    Name: field(required(source(options.format))),
    Target: field(optional(volume)),
    Force: field((value) => optional(flag)(value) ?? false),
  });
}

export function cloneRequestSchema(options: SchemaOptions = {}) {
  return body({
    Name: field(required(source(options.format))),
    Target: field(required(volume)),
  });
}

export function sendRequestSchema(options: SchemaOptions = {}) {
  return body({
    Name: field(required(snapshot(options.format))),
    Host: field(required(host)),
    Incremental: field((value) => optional(flag)(value) ?? true),
    // Judged by @buttervolume/retention, as the Purge endpoint's Pattern.
    Purge: field(optional(string)),
  });
}

export function handOverRequestSchema(options: SchemaOptions = {}) {
  return body({
    Name: field(required(volume)),
    To: field(required(host)),
    Have: field(optional(snapshot(options.format))),
  });
}

export const replicaSetRequestSchema = body(
  {
    Name: field(required(volume)),
    Set: field(optional(list(host))),
    Add: field(optional(list(host))),
    Remove: field(optional(list(host))),
  },
  {
    holds: (b) => (b.Set !== undefined) !== (b.Add !== undefined || b.Remove !== undefined),
    message: 'give either Set (the whole replica set) or Add and/or Remove',
  },
);

export const syncRequestSchema = body({
  Volumes: field(required(list(volume))),
  Hosts: field(required(list(host))),
  Delete: field((value) => optional(flag)(value) ?? false),
});

export const purgeRequestSchema = body({
  Name: field(required(volume)),
  // The pattern is @buttervolume/retention's to judge: its "Invalid purge pattern …" message is
  // what 3.x clients see (COMPAT), for an empty pattern too.
  Pattern: field(required(string)),
  Dryrun: field((value) => optional(flag)(value) ?? false),
  Host: field(optional(host)),
});

function project(value: unknown): ProjectName {
  return ProjectName.parse(value);
}

export const groupSnapshotRequestSchema = body(
  {
    Volumes: field(optional(list(volume))),
    Project: field(optional(project)),
    Pause: field((value) => optional(flag)(value) ?? true),
    Hooks: field((value) => optional(flag)(value) ?? true),
  },
  {
    holds: (b) => b.Volumes !== undefined || b.Project !== undefined,
    message: 'name Volumes, a Project, or both',
  },
);

export function restoreSetRequestSchema(options: SchemaOptions = {}) {
  return body({
    Name: field(required(snapshot(options.format))),
    Volumes: field(optional(list(volume))),
    Force: field((value) => optional(flag)(value) ?? false),
  });
}

export const projectRequestSchema = body({ Name: field(required(project)) });

/** Every request schema, the snapshot-naming ones bound to `format`. */
export function requestSchemas(options: SchemaOptions = {}) {
  return {
    activate: emptyRequestSchema,
    create: createRequestSchema,
    remove: removeRequestSchema,
    mount: mountRequestSchema,
    path: pathRequestSchema,
    unmount: unmountRequestSchema,
    get: getRequestSchema,
    list: emptyRequestSchema,
    capabilities: emptyRequestSchema,
    snapshot: snapshotRequestSchema,
    snapshotList: emptyRequestSchema,
    snapshotRemove: snapshotRemoveRequestSchema(options),
    snapshotRestore: restoreRequestSchema(options),
    clone: cloneRequestSchema(options),
    snapshotSend: sendRequestSchema(options),
    volumeSync: syncRequestSchema,
    snapshotsPurge: purgeRequestSchema,
    scheduleList: emptyRequestSchema,
    schedulePause: emptyRequestSchema,
    scheduleResume: emptyRequestSchema,
    transfers: emptyRequestSchema,
    version: emptyRequestSchema,
    groupSnapshot: groupSnapshotRequestSchema,
    restoreSet: restoreSetRequestSchema(options),
    volumeContainers: nameRequestSchema,
    project: projectRequestSchema,
    replica: nameRequestSchema,
    handOver: handOverRequestSchema(options),
    replicaSet: replicaSetRequestSchema,
  } as const;
}

export type RequestSchemas = ReturnType<typeof requestSchemas>;

// Parsed bodies, as the daemon's handlers receive them.
export type NameBody = Output<typeof nameRequestSchema>;
export type CreateBody = Output<typeof createRequestSchema>;
export type RemoveBody = Output<typeof removeRequestSchema>;
export type MountBody = Output<typeof mountRequestSchema>;
export type UnmountBody = MountBody;
export type SnapshotBody = NameBody;
export type SnapshotRemoveBody = Output<ReturnType<typeof snapshotRemoveRequestSchema>>;
export type RestoreBody = Output<ReturnType<typeof restoreRequestSchema>>;
export type CloneBody = Output<ReturnType<typeof cloneRequestSchema>>;
export type SendBody = Output<ReturnType<typeof sendRequestSchema>>;
export type SyncBody = Output<typeof syncRequestSchema>;
export type PurgeBody = Output<typeof purgeRequestSchema>;
export type GroupSnapshotBody = Output<typeof groupSnapshotRequestSchema>;
export type RestoreSetBody = Output<ReturnType<typeof restoreSetRequestSchema>>;
export type HandOverBody = Output<ReturnType<typeof handOverRequestSchema>>;
export type ReplicaSetBody = Output<typeof replicaSetRequestSchema>;

// ---- Parsing entry points -----------------------------------------------------------------

/** Parses `raw` with `schema`, or throws one short InvalidRequestError naming each bad field. */
export function parseRequest<S extends Schema<unknown>>(schema: S, raw: unknown): Output<S> {
  const issues: Issue[] = [];
  const parsed = schema.check(raw, issues) as Output<S>;
  if (issues.length === 0) return parsed;
  const message = issues
    .map((issue) => (issue.field ? `${issue.field}: ${issue.message}` : issue.message))
    .join('; ');
  const fields = issues.flatMap((issue) => (issue.field ? [issue.field] : []));
  throw new InvalidRequestError(message, fields);
}

/** A request body as JSON; an empty body is `{}` (Docker sends none for some calls). */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidRequestError(`malformed JSON in the request body: ${reason}`);
  }
}

// ---- Create options -----------------------------------------------------------------------

export const CREATE_OPTS = [
  'copyonwrite',
  'size',
  'from',
  'compression',
  'replicas',
  'failover',
] as const;

/** `-o compression=` values: an algorithm, or true (zstd) / false (none), in any case. */
const COMPRESSION_VALUES = ['zstd', 'lzo', 'zlib', 'true', 'false'] as const;
/** What a replicated volume does when its owner cannot be reached at Mount. */
export type FailoverPolicy = 'refuse' | 'newest';
export const FAILOVER_POLICIES: readonly FailoverPolicy[] = ['refuse', 'newest'];

export interface CreateOptions {
  /** false: `chattr +C` on the new subvolume (no copy-on-write, no checksums). */
  copyOnWrite: boolean;
  /** A quota on the new subvolume. */
  sizeBytes: number | undefined;
  /** Make the new volume a writable snapshot of this volume or snapshot. */
  from: VolumeSource | undefined;
  /** btrfs compression for new writes (the `compression` property); undefined: none. */
  compression: 'zstd' | 'lzo' | 'zlib' | undefined;
  /** Peer nodes the volume is replicated to (`replicas=n2,n3`); empty: not replicated. */
  replicas: HostName[];
  /** `failover=newest` lets a replica take over from an unreachable owner (default refuse). */
  failover: FailoverPolicy;
}

/** "10G", "500M", "1.5T", "1073741824" → bytes (binary units, as btrfs qgroups read them). */
export function parseSize(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes === undefined || bytes <= 0) {
    throw new InvalidRequestError(
      `Opts.size: expected a size of more than 0 bytes such as "10G", "500M" or "1073741824", got ${showValue(text)}`,
      ['Opts.size'],
    );
  }
  return bytes;
}

/** Docker's `-o key=value` strings → what Create does; unknown options are refused. */
export function parseCreateOpts(
  options: Record<string, string>,
  schema: SchemaOptions = {},
): CreateOptions {
  for (const key of Object.keys(options)) {
    if (!(CREATE_OPTS as readonly string[]).includes(key)) {
      throw new InvalidRequestError(
        `Opts: unknown option ${showValue(key)}; valid options are ${CREATE_OPTS.join(', ')}`,
        [`Opts.${key}`],
      );
    }
  }
  // Compose files written for 3.x say `copyonwrite: "False"`.
  const cow = booleanWord(options.copyonwrite ?? 'true');
  if (cow === undefined) {
    throw new InvalidRequestError(
      `Opts.copyonwrite: expected "true" or "false" (any case), got ${showValue(options.copyonwrite ?? '')}`,
      ['Opts.copyonwrite'],
    );
  }
  const from = options.from === undefined ? undefined : parseFrom(options.from, schema.format);
  if (from !== undefined && !cow) {
    // chattr +C only applies to files created afterwards; a snapshot's data stays copy-on-write.
    throw new InvalidRequestError(
      'Opts: copyonwrite=false cannot be combined with from: a snapshot shares its data copy-on-write',
      ['Opts.copyonwrite', 'Opts.from'],
    );
  }
  const compression = parseCompression(options.compression);
  if (compression !== undefined && !cow) {
    // btrfs refuses the compression property on a nodatacow inode (EINVAL): say why up front.
    throw new InvalidRequestError(
      'Opts: copyonwrite=false cannot be combined with compression: btrfs compresses only copy-on-write data',
      ['Opts.copyonwrite', 'Opts.compression'],
    );
  }
  const replicas = options.replicas === undefined ? [] : parseReplicas(options.replicas);
  const failover = options.failover ?? 'refuse';
  if (!(FAILOVER_POLICIES as readonly string[]).includes(failover)) {
    throw new InvalidRequestError(
      `Opts.failover: expected "refuse" or "newest", got ${showValue(failover)}`,
      ['Opts.failover'],
    );
  }
  if (options.failover !== undefined && replicas.length === 0) {
    throw new InvalidRequestError('Opts.failover: only a replicated volume (replicas=…) has one', [
      'Opts.failover',
    ]);
  }
  return {
    copyOnWrite: cow,
    sizeBytes: options.size === undefined ? undefined : parseSize(options.size),
    from,
    compression,
    replicas,
    failover: failover as FailoverPolicy,
  };
}

/** `n2,n3` → host names: each passes the host rule, none twice, at least one. */
export function parseReplicas(text: string): HostName[] {
  let list: HostName[];
  try {
    list = HostName.parseList(text);
  } catch (error) {
    if (!(error instanceof InvalidNameError)) throw error;
    throw new InvalidRequestError(
      `Opts.replicas: ${showValue(error.value)} is not a host: ${error.message}; give peer nodes as replicas=n2,n3`,
      ['Opts.replicas'],
    );
  }
  const hosts: HostName[] = [];
  for (const host of list) {
    if (hosts.some((h) => h.toLowerCase() === host.toLowerCase())) {
      throw new InvalidRequestError(`Opts.replicas: ${showValue(host)} is listed twice`, [
        'Opts.replicas',
      ]);
    }
    hosts.push(host);
  }
  return hosts;
}

/** 3.13's `-o compression=`: `true` is zstd, `false` (the default) is none. */
function parseCompression(raw: string | undefined): CreateOptions['compression'] {
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if (!(COMPRESSION_VALUES as readonly string[]).includes(value)) {
    throw new InvalidRequestError(
      `Opts.compression: expected one of ${COMPRESSION_VALUES.join(', ')} (true means zstd), got ${showValue(raw)}`,
      ['Opts.compression'],
    );
  }
  if (value === 'false') return undefined;
  return value === 'true' ? 'zstd' : (value as 'zstd' | 'lzo' | 'zlib');
}

function parseFrom(text: string, format: string | undefined): VolumeSource {
  try {
    return source(format)(text);
  } catch (error) {
    if (!(error instanceof FieldProblem || error instanceof InvalidNameError)) throw error;
    throw new InvalidRequestError(`Opts.from: ${error.message}`, ['Opts.from']);
  }
}
