import {
  requestSchemas,
  type SendResponse,
  type SyncResponse,
  type TransfersResponse,
} from '@buttervolume/api';
import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import { PluginError } from '../errors.js';
import type { ReplicationService } from '../services/replication.js';
import { readRequest } from '../validation.js';

/** Snapshot.Send, Volume.Sync and the list of sends in flight. */
export function replicationRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const schemas = requestSchemas({ format: deps.dtFormat });

  app.post('/VolumeDriver.Snapshot.Send', async (c) => {
    const request = await readRequest(c, schemas.snapshotSend);
    const result = await required(deps).send(request.Name, request.Host, {
      incremental: request.Incremental,
    });
    const response: SendResponse = {
      Err: '',
      Incremental: result.incremental,
      Parent: result.parent ?? null,
      Bytes: result.bytes,
      DurationMs: Math.round(result.durationMs),
      AlreadyPresent: result.alreadyPresent,
    };
    return c.json(response);
  });

  app.post('/VolumeDriver.Volume.Sync', async (c) => {
    const request = await readRequest(c, schemas.volumeSync);
    const outcome = await required(deps).sync(request.Volumes, request.Hosts, {
      delete: request.Delete,
    });
    // 3.x joined every host's error into Err; the list keeps them apart for clients that care.
    const response: SyncResponse = {
      Err: outcome.errors.map((e) => `${e.volume}: ${e.message}`).join('; '),
      Snapshots: outcome.snapshots,
      Errors: outcome.errors.map((e) => ({ Volume: e.volume, Host: e.host, Err: e.message })),
    };
    return c.json(response);
  });

  app.on(['GET', 'POST'], '/Buttervolume.Transfers', (c) => {
    const response: TransfersResponse = {
      Err: '',
      Transfers: (deps.replication?.transfers() ?? []).map((t) => ({
        Snapshot: t.snapshot,
        Host: t.host,
        Bytes: t.bytes,
        ElapsedMs: t.elapsedMs,
        RateBytesPerSec: t.rateBytesPerSec,
      })),
    };
    return c.json(response);
  });

  return app;
}

function required(deps: AppDeps): ReplicationService {
  if (deps.replication) return deps.replication;
  throw new PluginError('NOT_WIRED', 'this daemon was started without replication');
}
