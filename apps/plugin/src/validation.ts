// The HTTP boundary: a request body is read once and parsed with @buttervolume/api's schemas,
// the same ones the CLI checks its requests with, so the daemon and its clients cannot drift
// apart. Only what is the daemon's own lives here: the size limit and the error wording.
import { InvalidRequestError, parseJsonBody, parseRequest } from '@buttervolume/api';
import { InvalidJobError } from '@buttervolume/scheduler';
import type { Context } from 'hono';

/** Largest body we read: Docker's requests are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

type Schema = Parameters<typeof parseRequest>[0];

/** The body of `c` through `schema`; any refusal names the endpoint (`Invalid request to …`). */
export async function readRequest<S extends Schema>(
  c: Context,
  schema: S,
): Promise<ReturnType<typeof parseRequest<S>>> {
  const text = await c.req.text();
  return asRequestError(c.req.path, () => parseRequest(schema, parseJsonBody(text)));
}

/** The body of `c` as JSON (empty: `{}`), or an InvalidRequestError naming the endpoint. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  return asRequestError(c.req.path, () => parseJsonBody(text));
}

/** Runs a parser (the api's or the scheduler's), turning its refusal into InvalidRequestError. */
export function asRequestError<T>(endpoint: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidRequestError || error instanceof InvalidJobError) {
      const fields = error instanceof InvalidRequestError ? error.fields : [error.field];
      throw new InvalidRequestError(`Invalid request to ${endpoint}: ${error.message}`, fields);
    }
    throw error;
  }
}
