import {
  type PurgeResponse,
  requestSchemas,
  type SendResponse,
  type SyncResponse,
  type TransfersResponse,
} from '@buttervolume/api';
import { parsePolicy } from '@buttervolume/retention';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import { readRequest } from '../validation.js';
import type { Handlers } from './handlers.js';

/** Snapshot.Send, Volume.Sync and the list of sends in flight. */
export function replicationHandlers(deps: AppDeps) {
  const schemas = requestSchemas({ format: deps.dtFormat });

  return {
    snapshotSend: async (c) => {
      const request = await readRequest(c, schemas.snapshotSend);
      // The client going away (Ctrl-C on `buttervolume send`) cancels the transfer, and its
      // clean-up runs on both hosts.
      // Refused before anything is sent, with retention's own message.
      const purge = request.Purge === undefined ? undefined : parsePolicy(request.Purge);
      const result = await required(deps).send(request.Name, request.Host, {
        incremental: request.Incremental,
        ...(purge === undefined ? {} : { purge }),
        signal: c.req.raw.signal,
      });
      const response: SendResponse = {
        Err: '',
        Incremental: result.incremental,
        Parent: result.parent ?? null,
        Bytes: result.bytes,
        DurationMs: Math.round(result.durationMs),
        AlreadyPresent: result.alreadyPresent,
        ...(result.hostPurge === undefined ? {} : { HostPurge: purgeAnswer(result.hostPurge) }),
      };
      return c.json(response);
    },

    volumeSync: async (c) => {
      const request = await readRequest(c, schemas.volumeSync);
      const outcome = await required(deps).sync(request.Volumes, request.Hosts, {
        delete: request.Delete,
        signal: c.req.raw.signal,
      });
      // 3.x joined every host's error into Err; the list keeps them apart for clients that care.
      const response: SyncResponse = {
        Err: outcome.errors.map((e) => `${e.volume}: ${e.message}`).join('; '),
        Snapshots: outcome.snapshots,
        Errors: outcome.errors.map((e) => ({ Volume: e.volume, Host: e.host, Err: e.message })),
      };
      return c.json(response);
    },

    transfers: (c) => {
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
    },
  } satisfies Partial<Handlers>;
}

/** A purge's outcome as the Purge endpoint answers it, for a host's copies too. */
export function purgeAnswer(result: {
  purged: readonly string[];
  decisions: readonly { name: string; decision: 'keep' | 'purge'; reason: string }[];
}): Pick<PurgeResponse, 'Purged' | 'Decisions'> {
  return {
    Purged: [...result.purged],
    Decisions: result.decisions.map((d) => ({
      Name: d.name,
      Action: d.decision,
      Reason: d.reason,
    })),
  };
}

export function required(deps: AppDeps): NonNullable<AppDeps['replication']> {
  if (deps.replication) return deps.replication;
  throw new PluginError('NOT_WIRED', 'this daemon was started without replication');
}
