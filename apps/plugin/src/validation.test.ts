import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.js';
import {
  boolField,
  createOpts,
  parseBody,
  snapshotOrMarkerField,
  sourceField,
  volumeField,
} from './validation.js';

const E = '/VolumeDriver.Create';
const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';

describe('parseBody', () => {
  it('reads an empty body as {}', () => {
    expect(parseBody(E, '')).toEqual({});
    expect(parseBody(E, '  \n')).toEqual({});
  });
  it.each(['{', '[]', 'null', '"x"', '42', '{"a":1}x'])('refuses %j with a typed error', (text) => {
    expect(() => parseBody(E, text)).toThrow(InvalidRequestError);
    expect(() => parseBody(E, text)).toThrow(/^Invalid request to \/VolumeDriver.Create: the body/);
  });
});

describe('fields', () => {
  it('names a missing field', () => {
    expect(() => volumeField(E, {})).toThrow('missing field "Name"');
    expect(() => volumeField(E, { Name: null })).toThrow('missing field "Name"');
  });
  it('parses volume names with Docker’s rule', () => {
    expect(volumeField(E, { Name: 'pg_data.1' })).toBe('pg_data.1');
    expect(() => volumeField(E, { Name: '../x' })).toThrow(/Invalid volume name/);
  });
  it('reads booleans and their string forms, nothing else', () => {
    expect(boolField(E, {}, 'Dryrun', false)).toBe(false);
    expect(boolField(E, { Dryrun: 'true' }, 'Dryrun', false)).toBe(true);
    expect(boolField(E, { Dryrun: false }, 'Dryrun', true)).toBe(false);
    for (const bad of ['yes', 1, 0, [], {}]) {
      expect(() => boolField(E, { Dryrun: bad }, 'Dryrun', false)).toThrow(
        /"Dryrun" must be true or false/,
      );
    }
  });
  it('tells snapshots from volumes by the @', () => {
    expect(sourceField(E, { Name: 'v1' }, 'Name', FORMAT)).toEqual({ kind: 'volume', name: 'v1' });
    expect(sourceField(E, { Name: 'v1@2026-01-02T03:04:05.000006' }, 'Name', FORMAT)).toEqual({
      kind: 'snapshot',
      name: 'v1@2026-01-02T03:04:05.000006',
    });
    expect(() => sourceField(E, { Name: 'v1@nope' }, 'Name', FORMAT)).toThrow(
      /Invalid snapshot name/,
    );
  });
  it('takes snapshots and markers for removal', () => {
    expect(snapshotOrMarkerField(E, { Name: 'v1@2026-01-02T03:04:05.000006@hostb' }, FORMAT)).toBe(
      'v1@2026-01-02T03:04:05.000006@hostb',
    );
    expect(() =>
      snapshotOrMarkerField(E, { Name: 'v1@2026-01-02T03:04:05.000006@-oX' }, FORMAT),
    ).toThrow();
  });
});

describe('createOpts', () => {
  it('defaults to copy-on-write, no quota, empty volume', () => {
    expect(createOpts(E, {}, FORMAT)).toEqual({
      copyOnWrite: true,
      sizeBytes: undefined,
      from: undefined,
    });
    expect(createOpts(E, { Opts: null }, FORMAT).copyOnWrite).toBe(true);
  });
  it('reads Docker’s string options', () => {
    expect(createOpts(E, { Opts: { copyonwrite: 'false', size: '10G' } }, FORMAT)).toEqual({
      copyOnWrite: false,
      sizeBytes: 10 * 1024 ** 3,
      from: undefined,
    });
    expect(createOpts(E, { Opts: { size: '1073741824', from: 'base' } }, FORMAT).from).toEqual({
      kind: 'volume',
      name: 'base',
    });
  });
  it('names an unknown option and lists the valid ones', () => {
    expect(() => createOpts(E, { Opts: { compression: 'zstd' } }, FORMAT)).toThrow(
      /unknown option "compression"; valid options: copyonwrite, size, from/,
    );
  });
  it('refuses wrong values and types', () => {
    expect(() => createOpts(E, { Opts: { copyonwrite: 'no' } }, FORMAT)).toThrow(
      /copyonwrite must be/,
    );
    expect(() => createOpts(E, { Opts: { size: '-1G' } }, FORMAT)).toThrow(/invalid size/);
    expect(() => createOpts(E, { Opts: { size: 5 } }, FORMAT)).toThrow(/must be a string/);
    expect(() => createOpts(E, { Opts: [] }, FORMAT)).toThrow(/"Opts" must be an object/);
    expect(() => createOpts(E, { Opts: { from: 'base', copyonwrite: 'false' } }, FORMAT)).toThrow(
      /cannot be combined/,
    );
  });
});
