import { InvalidRequestError, parseCreateOpts, requestSchemas } from '@buttervolume/api';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { asRequestError, readRequest } from './validation.js';

const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';
const SNAP = 'v1@2026-01-02T03:04:05.000006';
const schemas = requestSchemas({ format: FORMAT });

/** A one-route app that answers what readRequest made of the body, or its error. */
function echo(schema: Parameters<typeof readRequest>[1]) {
  const app = new Hono();
  app.post('/VolumeDriver.Test', async (c) => c.json({ parsed: await readRequest(c, schema) }));
  app.onError((error, c) =>
    c.json({ Err: error.message, isRequestError: error instanceof InvalidRequestError }),
  );
  return async (body: string) =>
    (await (await app.request('/VolumeDriver.Test', { method: 'POST', body })).json()) as {
      parsed?: unknown;
      Err?: string;
      isRequestError?: boolean;
    };
}

describe('readRequest', () => {
  it('reads an empty body as {}', async () => {
    expect(await echo(schemas.list)('')).toEqual({ parsed: {} });
    expect((await echo(schemas.remove)('  \n')).Err).toBe(
      'Invalid request to /VolumeDriver.Test: Name: required field is missing',
    );
  });

  it.each(['{', '[]', 'null', '"x"', '42', '{"a":1}x'])(
    'refuses %j naming the endpoint',
    async (text) => {
      const answer = await echo(schemas.remove)(text);
      expect(answer.isRequestError).toBe(true);
      expect(answer.Err).toMatch(
        /^Invalid request to \/VolumeDriver\.Test: (malformed JSON|the request body must be a JSON object)/,
      );
    },
  );

  it('gives branded names and defaults', async () => {
    expect(await echo(schemas.remove)('{"Name":"pg_data.1"}')).toEqual({
      parsed: { Name: 'pg_data.1', Force: false },
    });
    expect((await echo(schemas.remove)('{"Name":"../x"}')).Err).toMatch(
      /^Invalid request to \/VolumeDriver\.Test: Name: Invalid volume name "\.\.\/x"/,
    );
  });

  it('takes snapshots and send markers for removal, not a hostile host part', async () => {
    const marker = `${SNAP}@hostb`;
    expect((await echo(schemas.snapshotRemove)(JSON.stringify({ Name: marker }))).parsed).toEqual({
      Name: marker,
    });
    expect(
      (await echo(schemas.snapshotRemove)(JSON.stringify({ Name: `${SNAP}@-oX` }))).Err,
    ).toMatch(/Name: Invalid snapshot name/);
  });
});

describe('asRequestError', () => {
  it('names the endpoint in an api refusal and passes other errors through', () => {
    expect(() =>
      asRequestError('/VolumeDriver.Create', () => parseCreateOpts({ compress: 'zstd' })),
    ).toThrow(
      'Invalid request to /VolumeDriver.Create: Opts: unknown option "compress"; valid options are copyonwrite, size, from, compression',
    );
    const other = new RangeError('boom');
    expect(() =>
      asRequestError('/x', () => {
        throw other;
      }),
    ).toThrow(other);
  });
});
