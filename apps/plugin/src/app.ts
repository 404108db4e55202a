import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppDeps } from './deps.js';
import { elapsed } from './log.js';
import { groupHandlers } from './routes/groups.js';
import { endpointLabel, type Handlers, pathsOf, registerHandlers } from './routes/handlers.js';
import { healthHandlers } from './routes/health.js';
import { pluginHandlers } from './routes/plugin.js';
import { replicaHandlers } from './routes/replicas.js';
import { replicationHandlers } from './routes/replication.js';
import { scheduleHandlers } from './routes/schedule.js';
import { snapshotHandlers } from './routes/snapshots.js';
import { volumeHandlers } from './routes/volumes.js';
import { MAX_BODY_BYTES } from './validation.js';

// Docker polls these (every `docker run`, `docker volume ls`): one log line each at INFO
// would drown the operations that change something.
const QUIET = pathsOf(['get', 'list', 'path', 'capabilities', 'transfers', 'version', 'metrics']);

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const { logger } = deps;

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const failure = c.error;
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: elapsed(started),
      outcome: failure ? 'error' : 'ok',
      ...(failure ? { err: failure.message.split('\n', 1)[0] } : {}),
    };
    deps.metrics?.request(endpointLabel(c.req.path), fields.ms);
    if (QUIET.has(c.req.path) && !failure) logger.debug('request', fields);
    else logger.info('request', fields);
  });
  app.use(limitBody());

  // Every endpoint of @buttervolume/api's map has its handler here (or this does not compile).
  const handlers: Handlers = {
    ...pluginHandlers(deps),
    ...volumeHandlers(deps),
    ...snapshotHandlers(deps),
    ...scheduleHandlers(deps),
    ...replicationHandlers(deps),
    ...healthHandlers(deps),
    ...groupHandlers(deps),
    ...replicaHandlers(deps),
  };
  registerHandlers(app, handlers);

  app.notFound((c) => c.json({ Err: `unknown endpoint ${c.req.path}` }, 404));
  // One place maps every failure to COMPAT's shape: HTTP 200 and a non-empty Err.
  app.onError((error, c) => {
    const code = (error as { code?: unknown }).code;
    const message = error.message || String(error);
    if (typeof code !== 'string') {
      logger.error('unexpected failure', { path: c.req.path, error });
    } else if (message.length > MAX_ERR_CHARS) {
      logger.warn('failure, full text', { path: c.req.path, error });
    }
    // Some errors carry fields for programs beside Err (a code, the owner of a volume).
    const wire = (error as { wire?: unknown }).wire;
    const extra = typeof wire === 'object' && wire !== null ? wire : {};
    return c.json({ ...extra, Err: shortErr(message) }, 200);
  });
  return app;
}

/**
 * Refuses bodies over MAX_BODY_BYTES. A request that says its length (Docker's always do) is
 * judged by its Content-Length, and one from the socket with neither Content-Length nor
 * Transfer-Encoding has no body (HTTP/1.1): neither touches the body stream, so the handler reads it through
 * @hono/node-server's direct path (asking hono's bodyLimit first made every request build a web
 * Request and ReadableStream, the dearest part of a Docker call). Chunked bodies are counted
 * as they stream, by hono's bodyLimit.
 */
function limitBody(): MiddlewareHandler {
  const tooLarge = (c: Context) =>
    c.json({ Err: `request body larger than ${MAX_BODY_BYTES} bytes` }, 200);
  const streamed = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  return async (c, next) => {
    const chunked = c.req.header('transfer-encoding');
    const length = c.req.header('content-length');
    // From the socket (@hono/node-server puts the IncomingMessage in env); app.request()'s
    // Request objects carry no length header and go through bodyLimit.
    const fromWire = (c.env as { incoming?: unknown } | undefined)?.incoming !== undefined;
    if (chunked === undefined && length === undefined && fromWire) return next();
    if (chunked === undefined && length !== undefined && /^\d+$/.test(length)) {
      return Number(length) > MAX_BODY_BYTES ? tooLarge(c) : next();
    }
    return streamed(c, next);
  };
}

// Docker prints Err in one line of `docker run` output; a peer's stderr must not fill screens.
const MAX_ERR_CHARS = 2000;

/** `message`, cut to MAX_ERR_CHARS with a pointer to the log, which has all of it. */
export function shortErr(message: string): string {
  if (message.length <= MAX_ERR_CHARS) return message;
  return `${message.slice(0, MAX_ERR_CHARS - 60)}… (cut; the daemon log has the full text)`;
}
