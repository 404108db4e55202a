import type { Context } from 'hono';
import { type Body, parseBody } from '../validation.js';

/** The request body as a JSON object; the endpoint's path names it in errors. */
export async function body(c: Context): Promise<Body> {
  return parseBody(c.req.path, await c.req.text());
}
