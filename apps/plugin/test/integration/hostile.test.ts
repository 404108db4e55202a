import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, createFixture, type Fixture, inProcess, suffix } from './helpers.js';

const pwned = `/tmp/bv-pwned-${suffix()}`;
const hostileNames: unknown[] = [
  '../x',
  '..',
  '.',
  'a/b',
  '/etc',
  '-rf',
  '--help',
  `$(touch ${pwned})`,
  `\`touch ${pwned}\``,
  `x"; touch ${pwned} #`,
  "it's",
  'a b',
  'new\nline',
  'nul\0byte',
  'x'.repeat(300),
  '',
  'v@x',
  '../good@2026-01-01T00:00:00.000000',
  'good@2026-01-01T00:00:00.000000/../../x',
  42,
  true,
  null,
  ['good'],
  { Name: 'good' },
];

const malformedBodies = [
  '{',
  '{"Name": }',
  '[]',
  '["good"]',
  '"good"',
  'null',
  '42',
  'true',
  '\u0000',
];

// An optional field set to null is the field left out: that request is valid, so it is not
// part of the hostile cases.
const optional = (bad: unknown, body: unknown): unknown[] => (bad === null ? [] : [body]);

/** Every endpoint that takes input, with a way to put a hostile value in each field. */
const cases: { path: string; bodies: (bad: unknown) => unknown[] }[] = [
  {
    path: '/VolumeDriver.Create',
    bodies: (bad) => [
      { Name: bad },
      { Name: 'fresh1', Opts: { from: bad } },
      { Name: 'fresh1', Opts: { size: bad } },
      { Name: 'fresh1', Opts: { copyonwrite: bad } },
      ...optional(bad, { Name: 'fresh1', Opts: bad }),
    ],
  },
  {
    path: '/VolumeDriver.Remove',
    bodies: (bad) => [
      { Name: bad },
      ...optional(bad, { Name: 'good', Force: bad === true ? 'yes' : bad }),
    ],
  },
  { path: '/VolumeDriver.Mount', bodies: (bad) => [{ Name: bad, ID: 'c' }] },
  { path: '/VolumeDriver.Path', bodies: (bad) => [{ Name: bad }] },
  { path: '/VolumeDriver.Unmount', bodies: (bad) => [{ Name: bad, ID: 'c' }] },
  { path: '/VolumeDriver.Get', bodies: (bad) => [{ Name: bad }] },
  { path: '/VolumeDriver.Snapshot', bodies: (bad) => [{ Name: bad }] },
  { path: '/VolumeDriver.Snapshot.Remove', bodies: (bad) => [{ Name: bad }] },
  {
    path: '/VolumeDriver.Snapshot.Restore',
    bodies: (bad) => [{ Name: bad }, ...optional(bad, { Name: 'good', Target: bad })],
  },
  {
    path: '/VolumeDriver.Clone',
    bodies: (bad) => [
      { Name: bad, Target: 'fresh2' },
      { Name: 'good', Target: bad },
    ],
  },
  {
    path: '/VolumeDriver.Snapshots.Purge',
    bodies: (bad) => [
      { Name: bad, Pattern: '1h:1d' },
      { Name: 'good', Pattern: bad },
    ],
  },
];

describe('hostile input: a clear Err, and nothing created, deleted or executed', () => {
  let fx: Fixture;
  let call: Caller;
  let before: Awaited<ReturnType<Fixture['listing']>>;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
    ({ call } = await inProcess(fx.config));
    await call('/VolumeDriver.Create', { Name: 'good' });
    await writeFile(join(fx.volumesPath, 'good', 'keep.txt'), 'precious');
    await call('/VolumeDriver.Snapshot', { Name: 'good' });
    before = await fx.listing();
  });
  afterAll(async () => {
    await fx?.cleanup();
    await execa('rm', ['-f', '--', pwned]);
  });

  for (const { path, bodies } of cases) {
    it(`${path} refuses hostile names and values`, async () => {
      for (const bad of hostileNames) {
        for (const body of bodies(bad)) {
          const res = await call(path, body);
          expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(200);
          expect(res.json.Err, `${path} accepted ${JSON.stringify(body)}`).toEqual(
            expect.any(String),
          );
          expect(res.json.Err, `${path} accepted ${JSON.stringify(body)}`).not.toBe('');
          expect((res.json.Err as string).length).toBeLessThan(600);
        }
      }
      expect(await fx.listing()).toEqual(before);
      expect(existsSync(pwned)).toBe(false);
    });

    it(`${path} refuses malformed JSON and wrong types`, async () => {
      for (const text of malformedBodies) {
        const res = await call(path, text);
        expect(res.status).toBe(200);
        expect(res.json.Err, `${path} ${JSON.stringify(text)}`).toMatch(
          /^Invalid request to \/VolumeDriver\.[A-Za-z.]+: (malformed JSON in the request body|the request body must be a JSON object)/,
        );
      }
      const empty = await call(path, '');
      expect(empty.json.Err).toMatch(/: Name: required field is missing/);
      expect(await fx.listing()).toEqual(before);
    });
  }

  it('refuses hostile volume names in the Snapshot.List path', async () => {
    for (const bad of ['..%2Fx', '..', '-rf', '%24(touch%20x)', 'a%40b', 'x'.repeat(300)]) {
      const res = await call(`/VolumeDriver.Snapshot.List/${bad}`, undefined, 'GET');
      expect(res.json.Err || (res.status === 404 ? 'not found' : ''), bad).not.toBe('');
    }
  });

  it('refuses a body larger than 64 KiB', async () => {
    const res = await call(
      '/VolumeDriver.Create',
      JSON.stringify({ Name: 'big', Pad: 'x'.repeat(100_000) }),
    );
    expect(res.json.Err).toMatch(/larger than/);
    expect(await fx.listing()).toEqual(before);
  });

  it('ran no command built from a name: no pwned file anywhere', async () => {
    const found = await execa(
      'find',
      ['/tmp', fx.fs.mountPoint, process.cwd(), '-maxdepth', '3', '-name', 'bv-pwned-*'],
      { reject: false },
    );
    expect(found.stdout.trim()).toBe('');
    expect(existsSync(join(fx.volumesPath, 'good', 'keep.txt'))).toBe(true);
  });
});
