import { Hono } from 'hono';
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
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ Err: `request body larger than ${MAX_BODY_BYTES} bytes` }, 200),
    }),
  );

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
    return c.json({ Err: shortErr(message) }, 200);
  });
  return app;
}

// Docker prints Err in one line of `docker run` output; a peer's stderr must not fill screens.
const MAX_ERR_CHARS = 2000;

/** `message`, cut to MAX_ERR_CHARS with a pointer to the log, which has all of it. */
export function shortErr(message: string): string {
  if (message.length <= MAX_ERR_CHARS) return message;
  return `${message.slice(0, MAX_ERR_CHARS - 60)}… (cut; the daemon log has the full text)`;
}
