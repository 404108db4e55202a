import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { elapsed, type Logger } from './log.js';
import { pluginRoutes } from './routes/plugin.js';
import { replicationRoutes } from './routes/replication.js';
import { scheduleRoutes } from './routes/schedule.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { volumeRoutes } from './routes/volumes.js';
import type { Scheduling } from './scheduling.js';
import type { Services } from './services/index.js';
import type { ReplicationService } from './services/replication.js';
import { MAX_BODY_BYTES } from './validation.js';

/** What the HTTP layer needs; the scheduler and replication engineers add their handles here. */
export interface AppDeps {
  services: Services;
  logger: Logger;
  /** strftime format of snapshot timestamps (DTFORMAT). */
  dtFormat: string;
  /** Answered by GET /Buttervolume.Version (default: this package's version). */
  version?: string;
  /** schedule.csv and the runner; without it the Schedule endpoints answer an Err. */
  scheduling?: Scheduling;
  /** Send and sync; without it Snapshot.Send and Volume.Sync answer an Err. */
  replication?: ReplicationService;
}

// Docker polls these (every `docker run`, `docker volume ls`): one log line each at INFO
// would drown the operations that change something.
const QUIET = new Set([
  '/VolumeDriver.Get',
  '/VolumeDriver.List',
  '/VolumeDriver.Path',
  '/VolumeDriver.Capabilities',
  '/Buttervolume.Transfers',
  '/Buttervolume.Version',
]);

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
    if (QUIET.has(c.req.path) && !failure) logger.debug('request', fields);
    else logger.info('request', fields);
  });
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ Err: `request body larger than ${MAX_BODY_BYTES} bytes` }, 200),
    }),
  );

  app.route('/', pluginRoutes(deps));
  app.route('/', volumeRoutes(deps));
  app.route('/', snapshotRoutes(deps));
  app.route('/', scheduleRoutes(deps));
  app.route('/', replicationRoutes(deps));

  app.notFound((c) => c.json({ Err: `unknown endpoint ${c.req.path}` }, 404));
  // One place maps every failure to COMPAT's shape: HTTP 200 and a non-empty Err.
  app.onError((error, c) => {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string') {
      logger.error('unexpected failure', { path: c.req.path, error });
    }
    return c.json({ Err: error.message || String(error) }, 200);
  });
  return app;
}

let cachedVersion: string | undefined;

/** This package's version, read once from package.json (next to both src/ and dist/). */
export function packageVersion(): string {
  if (cachedVersion === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  }
  return cachedVersion;
}
