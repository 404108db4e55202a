import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.js';
import {
  emptyRequestSchema,
  parseCreateOpts,
  parseJsonBody,
  parseRequest,
  parseSize,
  requestSchemas,
} from './schemas.js';

const schemas = requestSchemas();
const SNAP = 'data@2026-11-24T19:13:40.123456';
const HOSTILE_NAMES: unknown[] = [
  '../x',
  'a/b',
  '-rf',
  '$(touch /tmp/p)',
  'x"; rm -rf / #',
  "it's",
  'a'.repeat(300),
  '',
  'x',
  '..',
  'a b',
  'vol@x',
  42,
  true,
  null,
  [],
  ['data'],
  { Name: 'data' },
];

function refusal(schema: Parameters<typeof parseRequest>[0], raw: unknown): InvalidRequestError {
  try {
    parseRequest(schema, raw);
  } catch (error) {
    if (error instanceof InvalidRequestError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

/** Each endpoint's good body, and the field that takes a volume name. */
const VOLUME_FIELDS = [
  ['create', { Name: 'data' }, 'Name'],
  ['remove', { Name: 'data' }, 'Name'],
  ['mount', { Name: 'data', ID: 'abc' }, 'Name'],
  ['unmount', { Name: 'data', ID: 'abc' }, 'Name'],
  ['path', { Name: 'data' }, 'Name'],
  ['get', { Name: 'data' }, 'Name'],
  ['snapshot', { Name: 'data' }, 'Name'],
  ['snapshotRestore', { Name: SNAP, Target: 'other' }, 'Target'],
  ['clone', { Name: 'data', Target: 'copy' }, 'Target'],
  ['snapshotsPurge', { Name: 'data', Pattern: '1h:1d' }, 'Name'],
  ['replicaSet', { Name: 'data', Add: ['n4'] }, 'Name'],
] as const;

describe('request schemas', () => {
  it.each(VOLUME_FIELDS)('%s accepts a good body and tolerates extra fields', (key, good) => {
    const parsed = parseRequest(schemas[key], { ...good, Extra: [1, 2], Other: null });
    // A restore's or clone's source comes tagged: volume or snapshot.
    const name = parsed.Name as string | { name: string };
    expect(typeof name === 'string' ? name : name.name).toBe(good.Name);
    expect(parsed).not.toHaveProperty('Extra');
  });

  it.each(VOLUME_FIELDS)('%s refuses hostile names in its volume field', (key, good, fieldName) => {
    // An optional field set to null is the field left out (Docker marshals unset maps as null).
    const optionalField = key === 'snapshotRestore';
    for (const name of HOSTILE_NAMES.filter((n) => !(optionalField && n === null))) {
      const error = refusal(schemas[key], { ...good, [fieldName]: name });
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message.startsWith(`${fieldName}: `)).toBe(true);
      expect(error.fields).toEqual([fieldName]);
      expect(error.message).not.toMatch(/expected nonoptional|"code"|\[\s*\{/);
    }
  });

  it.each(VOLUME_FIELDS)('%s names a missing field', (key, good, fieldName) => {
    const { [fieldName]: _dropped, ...rest } = good as Record<string, unknown>;
    if (key === 'snapshotRestore')
      return expect(parseRequest(schemas[key], rest).Target).toBe(undefined);
    expect(refusal(schemas[key], rest).message).toBe(`${fieldName}: required field is missing`);
  });

  it.each([null, [], 'text', 42, true])('every body schema refuses %j as a body', (raw) => {
    for (const [key, schema] of Object.entries(schemas)) {
      if (schema === emptyRequestSchema) continue;
      expect(refusal(schema, raw).message, key).toMatch(
        /^the request body must be a JSON object, got /,
      );
    }
  });

  it('shows the rule for a bad volume name, quoted and short', () => {
    expect(refusal(schemas.create, { Name: '../x' }).message).toBe(
      `Name: Invalid volume name "../x": use 2 to 128 characters: letters, digits, '_', '.', '-', starting with a letter or digit`,
    );
    expect(refusal(schemas.create, { Name: 'a'.repeat(300) }).message).toContain(
      '(300 characters)',
    );
  });

  it('lists every bad field in one message', () => {
    const error = refusal(schemas.snapshotSend, { Name: '-rf', Host: '-x', Incremental: 2 });
    expect(error.fields).toEqual(['Name', 'Host', 'Incremental']);
    expect(error.message.split('; ').map((part) => part.split(':')[0])).toEqual([
      'Name',
      'Host',
      'Incremental',
    ]);
  });

  it('endpoints without input take an object, null or nothing', () => {
    for (const raw of [{}, { Whatever: 1 }, null, undefined]) {
      expect(parseRequest(schemas.list, raw)).toEqual({});
    }
    expect(refusal(schemas.activate, [1]).message).toBe(
      'the request body must be a JSON object, got an array',
    );
  });

  it('create keeps Opts as strings and turns null or absence into {}', () => {
    expect(parseRequest(schemas.create, { Name: 'data', Opts: null }).Opts).toEqual({});
    expect(parseRequest(schemas.create, { Name: 'data' }).Opts).toEqual({});
    expect(parseRequest(schemas.create, { Name: 'data', Opts: { size: '1G' } }).Opts).toEqual({
      size: '1G',
    });
    expect(refusal(schemas.create, { Name: 'data', Opts: { size: 1 } }).message).toBe(
      'Opts: option "size": expected a string, got number 1',
    );
    expect(refusal(schemas.create, { Name: 'data', Opts: ['size'] }).message).toMatch(
      /^Opts: expected an object/,
    );
  });

  it('remove and restore take Force as a flag defaulting to false', () => {
    expect(parseRequest(schemas.remove, { Name: 'data' }).Force).toBe(false);
    expect(parseRequest(schemas.remove, { Name: 'data', Force: true }).Force).toBe(true);
    expect(parseRequest(schemas.snapshotRestore, { Name: 'data', Force: 'true' }).Force).toBe(true);
    expect(refusal(schemas.remove, { Name: 'data', Force: 'yes' }).message).toMatch(
      /^Force: expected true or false/,
    );
  });

  it('treats null as an optional field left out, and refuses it for a required one', () => {
    expect(parseRequest(schemas.remove, { Name: 'data', Force: null }).Force).toBe(false);
    expect(
      parseRequest(schemas.snapshotsPurge, { Name: 'data', Pattern: '1h:1d', Dryrun: null }),
    ).toMatchObject({ Dryrun: false });
    expect(parseRequest(schemas.snapshotRestore, { Name: SNAP, Target: null }).Target).toBe(
      undefined,
    );
    expect(refusal(schemas.clone, { Name: 'data', Target: null }).fields).toEqual(['Target']);
  });

  it('mount takes an optional ID (old Docker sent none), 1 to 256 characters', () => {
    expect(parseRequest(schemas.mount, { Name: 'data' }).ID).toBe(undefined);
    expect(parseRequest(schemas.unmount, { Name: 'data', ID: 'c0ffee' }).ID).toBe('c0ffee');
    expect(refusal(schemas.mount, { Name: 'data', ID: '' }).fields).toEqual(['ID']);
    expect(refusal(schemas.mount, { Name: 'data', ID: 'x'.repeat(257) }).fields).toEqual(['ID']);
  });

  it('snapshot removal takes a snapshot or a send marker, nothing else', () => {
    const marker = `${SNAP}@backup-1`;
    expect(parseRequest(schemas.snapshotRemove, { Name: marker }).Name).toBe(marker);
    expect(parseRequest(schemas.snapshotRemove, { Name: SNAP }).Name).toBe(SNAP);
    // 3.x wrote markers for ssh_config aliases today's host rule refuses.
    const legacy = `${SNAP}@my_backup`;
    expect(parseRequest(schemas.snapshotRemove, { Name: legacy }).Name).toBe(legacy);
    for (const bad of [`${SNAP}@-oProxyCommand=x`, `${SNAP}@a@b`, 'data', '../x@y', 42]) {
      expect(refusal(schemas.snapshotRemove, { Name: bad }).fields).toEqual(['Name']);
    }
  });

  it('mount needs a string ID', () => {
    expect(refusal(schemas.mount, { Name: 'data', ID: 5 }).message).toBe(
      'ID: expected a string, got number 5',
    );
  });

  it('restore and clone take a volume or a snapshot as source', () => {
    const fromSnapshot = parseRequest(schemas.snapshotRestore, { Name: SNAP });
    expect(fromSnapshot.Name).toEqual({ kind: 'snapshot', name: SNAP });
    const fromVolume = parseRequest(schemas.clone, { Name: 'data', Target: 'copy' });
    expect(fromVolume.Name).toEqual({ kind: 'volume', name: 'data' });
    expect(refusal(schemas.snapshotRestore, { Name: 'data@yesterday' }).message).toMatch(
      /^Name: Invalid snapshot name "data@yesterday"/,
    );
    expect(
      refusal(schemas.clone, { Name: '../x@2026-11-24T19:13:40.123456', Target: 'c1' }).fields,
    ).toEqual(['Name']);
  });

  it('snapshot names follow the configured DTFORMAT', () => {
    const custom = requestSchemas({ format: '%Y%m%d%H%M%S' });
    expect(parseRequest(custom.snapshotRemove, { Name: 'data@20261124191340' }).Name).toBe(
      'data@20261124191340',
    );
    expect(refusal(custom.snapshotRemove, { Name: SNAP }).fields).toEqual(['Name']);
    expect(refusal(schemas.snapshotRemove, { Name: 'data@20261124191340' }).fields).toEqual([
      'Name',
    ]);
  });

  it('send needs a snapshot and a host, Incremental defaults to true', () => {
    expect(parseRequest(schemas.snapshotSend, { Name: SNAP, Host: '10.0.0.2' })).toEqual({
      Name: SNAP,
      Host: '10.0.0.2',
      Incremental: true,
    });
    for (const host of ['-oProxyCommand=x', 'user@h', 'h:22', '$(touch /tmp/p)', '', 7, null]) {
      expect(refusal(schemas.snapshotSend, { Name: SNAP, Host: host }).fields).toEqual(['Host']);
    }
    expect(refusal(schemas.snapshotSend, { Name: 'data', Host: 'h1' }).fields).toEqual(['Name']);
  });

  it('sync needs non-empty lists of valid volumes and hosts', () => {
    expect(parseRequest(schemas.volumeSync, { Volumes: ['data'], Hosts: ['h1', 'h2'] })).toEqual({
      Volumes: ['data'],
      Hosts: ['h1', 'h2'],
      Delete: false,
    });
    expect(refusal(schemas.volumeSync, { Volumes: [], Hosts: ['h1'] }).message).toBe(
      'Volumes: expected at least one entry, got an empty list',
    );
    expect(refusal(schemas.volumeSync, { Volumes: 'data', Hosts: ['h1'] }).message).toMatch(
      /^Volumes: expected a list/,
    );
    expect(
      refusal(schemas.volumeSync, { Volumes: ['data'], Hosts: ['h1', '-rf'] }).message,
    ).toMatch(/^Hosts: entry 1: Invalid host name "-rf"/);
  });

  it('a replica set change takes Set, or Add and/or Remove, each a non-empty list of hosts', () => {
    const change = schemas.replicaSet;
    expect(parseRequest(change, { Name: 'data', Set: ['n1', 'n2'] })).toMatchObject({
      Name: 'data',
      Set: ['n1', 'n2'],
    });
    expect(parseRequest(change, { Name: 'data', Add: ['n4'], Remove: ['10.0.0.3'] })).toMatchObject(
      { Add: ['n4'], Remove: ['10.0.0.3'] },
    );
    expect(refusal(change, { Name: 'data' }).message).toMatch(
      /either Set .* or Add and\/or Remove/,
    );
    expect(refusal(change, { Name: 'data', Set: ['n1'], Add: ['n2'] }).message).toMatch(
      /either Set/,
    );
    expect(refusal(change, { Name: 'data', Add: [] }).message).toBe(
      'Add: expected at least one entry, got an empty list',
    );
    expect(refusal(change, { Name: 'data', Set: 'n1,n2' }).message).toMatch(
      /^Set: expected a list/,
    );
    for (const hostile of ['-oProxyCommand=x', '$(touch /tmp/p)', 'root@n2', 'a/b', '', 42, null]) {
      const error = refusal(change, { Name: 'data', Remove: ['n2', hostile] });
      expect(error.message).toMatch(/^Remove: entry 1: /);
    }
  });

  it('purge takes Dryrun as a bool or the strings "true"/"false"', () => {
    const body = { Name: 'data', Pattern: '1h:1d' };
    expect(parseRequest(schemas.snapshotsPurge, body).Dryrun).toBe(false);
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Dryrun: 'true' }).Dryrun).toBe(true);
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Dryrun: 'false' }).Dryrun).toBe(false);
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Dryrun: true }).Dryrun).toBe(true);
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Dryrun: 'TRUE' }).Dryrun).toBe(true);
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Dryrun: 'False' }).Dryrun).toBe(false);
    expect(refusal(schemas.snapshotsPurge, { ...body, Dryrun: 'yes' }).fields).toEqual(['Dryrun']);
    expect(refusal(schemas.snapshotsPurge, { ...body, Dryrun: 1 }).fields).toEqual(['Dryrun']);
    // Judged by retention in the daemon, so the Err starts with "Invalid purge pattern".
    expect(parseRequest(schemas.snapshotsPurge, { ...body, Pattern: '' }).Pattern).toBe('');
    expect(refusal(schemas.snapshotsPurge, { ...body, Pattern: 3 }).fields).toEqual(['Pattern']);
  });
});

describe('parseJsonBody', () => {
  it('reads JSON, and an empty body as {}', () => {
    expect(parseJsonBody('')).toEqual({});
    expect(parseJsonBody('  \n')).toEqual({});
    expect(parseJsonBody('{"Name":"data"}')).toEqual({ Name: 'data' });
  });

  it.each(['{', '{"Name": }', 'Name=data', '\u0000'])('refuses %j with a short message', (text) => {
    expect(() => parseJsonBody(text)).toThrow(InvalidRequestError);
    expect(() => parseJsonBody(text)).toThrow(/^malformed JSON in the request body: /);
  });
});

describe('parseCreateOpts', () => {
  it('defaults to copy-on-write, no quota, no source', () => {
    expect(parseCreateOpts({})).toEqual({
      copyOnWrite: true,
      sizeBytes: undefined,
      from: undefined,
      compression: undefined,
      replicas: [],
      failover: 'refuse',
    });
  });

  it('reads compression as 3.13: an algorithm, true (zstd) or false, any case', () => {
    const read = (compression: string) => parseCreateOpts({ compression }).compression;
    expect(['zstd', 'ZSTD', 'lzo', 'zlib', 'true', 'True', 'false', 'FALSE'].map(read)).toEqual([
      'zstd',
      'zstd',
      'lzo',
      'zlib',
      'zstd',
      'zstd',
      undefined,
      undefined,
    ]);
    for (const bad of ['gzip', '', 'zstd:3', '1', 'no']) {
      expect(() => read(bad)).toThrow(
        /^Opts\.compression: expected one of zstd, lzo, zlib, true, false/,
      );
    }
  });

  it('reads copyonwrite, size and from', () => {
    expect(parseCreateOpts({ copyonwrite: 'false', size: '10G' })).toEqual({
      copyOnWrite: false,
      sizeBytes: 10 * 2 ** 30,
      from: undefined,
      compression: undefined,
      replicas: [],
      failover: 'refuse',
    });
    expect(parseCreateOpts({ copyonwrite: 'true', size: '2P', from: SNAP })).toEqual({
      copyOnWrite: true,
      sizeBytes: 2 * 2 ** 50,
      from: { kind: 'snapshot', name: SNAP },
      compression: undefined,
      replicas: [],
      failover: 'refuse',
    });
  });

  it('reads copyonwrite in any case, as 3.x did (compose files say "False")', () => {
    for (const [word, copyOnWrite] of [
      ['TRUE', true],
      ['True', true],
      ['False', false],
      ['fAlSe', false],
    ] as const) {
      expect(parseCreateOpts({ copyonwrite: word }).copyOnWrite).toBe(copyOnWrite);
    }
    for (const word of ['yes', 'no', '', 'falsey', ' true']) {
      expect(() => parseCreateOpts({ copyonwrite: word })).toThrow(
        /^Opts.copyonwrite: expected "true" or "false" \(any case\)/,
      );
    }
  });

  it('refuses copyonwrite=false with from: a snapshot shares its data copy-on-write', () => {
    expect(() => parseCreateOpts({ copyonwrite: 'false', from: SNAP })).toThrow(
      /^Opts: copyonwrite=false cannot be combined with from/,
    );
  });

  it('refuses copyonwrite=false with compression: btrfs compresses only copy-on-write data', () => {
    for (const compression of ['zstd', 'TRUE', 'lzo']) {
      expect(() => parseCreateOpts({ copyonwrite: 'false', compression })).toThrow(
        /^Opts: copyonwrite=false cannot be combined with compression/,
      );
    }
    expect(parseCreateOpts({ copyonwrite: 'false', compression: 'false' })).toMatchObject({
      copyOnWrite: false,
      compression: undefined,
    });
  });

  it('keeps messages short for huge option names and values', () => {
    for (const opts of [{ ['k'.repeat(60_000)]: 'x' }, { copyonwrite: 'y'.repeat(60_000) }]) {
      expect(() => parseCreateOpts(opts)).toThrow(InvalidRequestError);
      try {
        parseCreateOpts(opts);
      } catch (error) {
        expect((error as Error).message.length).toBeLessThan(200);
      }
    }
  });

  it('names an unknown option and lists the valid ones', () => {
    expect(() => parseCreateOpts({ compress: 'zstd' })).toThrow(
      'Opts: unknown option "compress"; valid options are copyonwrite, size, from, compression, replicas, failover',
    );
  });

  it.each([
    [{ copyonwrite: 'yes' }, /^Opts.copyonwrite: expected "true" or "false"/],
    [{ size: 'big' }, /^Opts.size: /],
    [{ size: '0' }, /^Opts.size: /],
    [{ size: '-1G' }, /^Opts.size: /],
    [{ from: '../x' }, /^Opts.from: Invalid volume name/],
    [{ from: 'data@now' }, /^Opts.from: Invalid snapshot name/],
  ])('refuses %j', (opts, message) => {
    expect(() => parseCreateOpts(opts)).toThrow(message);
  });

  it('reads replicas and the failover policy', () => {
    expect(parseCreateOpts({ replicas: 'n2, n3.example.org,10.0.0.3' })).toMatchObject({
      replicas: ['n2', 'n3.example.org', '10.0.0.3'],
      failover: 'refuse',
    });
    expect(parseCreateOpts({ replicas: 'n2', failover: 'newest' })).toMatchObject({
      replicas: ['n2'],
      failover: 'newest',
    });
  });

  it.each([
    [{ replicas: '' }, /^Opts.replicas: "" is not a host/],
    [{ replicas: 'n2,' }, /^Opts.replicas: "" is not a host/],
    [{ replicas: 'n2,N2' }, /^Opts.replicas: "N2" is listed twice/],
    [{ replicas: '-oProxyCommand=x' }, /^Opts.replicas: "-oProxyCommand=x" is not a host/],
    [{ replicas: 'root@n2' }, /^Opts.replicas: "root@n2" is not a host/],
    [{ replicas: '$(touch /tmp/p)' }, /^Opts.replicas: .* is not a host/],
    [{ replicas: 'n2;n3' }, /^Opts.replicas: "n2;n3" is not a host/],
    [{ replicas: 'a'.repeat(300) }, /^Opts.replicas: .* is not a host/],
    [{ replicas: 'n2', failover: 'yes' }, /^Opts.failover: expected "refuse" or "newest"/],
    [{ failover: 'newest' }, /^Opts.failover: only a replicated volume/],
  ])('refuses replica options %j', (opts, message) => {
    expect(() => parseCreateOpts(opts)).toThrow(InvalidRequestError);
    expect(() => parseCreateOpts(opts)).toThrow(message);
  });

  it('reads sizes in binary units', () => {
    expect(parseSize('1073741824')).toBe(2 ** 30);
    expect(parseSize('500M')).toBe(500 * 2 ** 20);
    expect(parseSize('1.5g')).toBe(1.5 * 2 ** 30);
    expect(parseSize('2KiB')).toBe(2048);
    expect(parseSize('1T')).toBe(2 ** 40);
  });
});
