// Routes come from @buttervolume/api's endpoint map: a handler per key, registered here. Adding
// an endpoint is one entry in that map plus one handler; a key without a handler does not
// compile (app.ts assembles a complete Handlers).
import { type EndpointKey, endpoints } from '@buttervolume/api';
import type { Context, Hono } from 'hono';

export type Handler = (c: Context) => Response | Promise<Response>;
export type Handlers = Record<EndpointKey, Handler>;

export function registerHandlers(app: Hono, handlers: Handlers): void {
  for (const key of Object.keys(endpoints) as EndpointKey[]) {
    const spec: { method: string; path: string; param?: string } = endpoints[key];
    const path = spec.param === undefined ? spec.path : `${spec.path}/:${spec.param}?`;
    // 3.x served its listings as GET; clients that POST everything are answered too.
    if (spec.method === 'GET') app.on(['GET', 'POST'], path, handlers[key]);
    else app.post(path, handlers[key]);
  }
}

/** The paths of some endpoints (e.g. those logged at debug level). */
export function pathsOf(keys: readonly EndpointKey[]): Set<string> {
  return new Set(keys.map((key) => endpoints[key].path));
}

const KNOWN = new Set<string>(Object.values(endpoints).map((spec) => spec.path));
const WITH_PARAM = Object.values(endpoints).flatMap((spec) =>
  'param' in spec ? [`${spec.path}/`] : [],
);

/**
 * The endpoint a path belongs to, for metric labels: one of the API's paths, or "other" (any
 * path a client makes up must not become a label value of its own).
 */
export function endpointLabel(path: string): string {
  if (KNOWN.has(path)) return path;
  const prefix = WITH_PARAM.find((p) => path.startsWith(p));
  return prefix === undefined ? 'other' : prefix.slice(0, -1);
}
