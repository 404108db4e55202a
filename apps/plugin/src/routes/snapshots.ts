import { parseRequest, requestSchemas, volumeParamSchema } from '@buttervolume/api';
import { parsePolicy } from '@buttervolume/retention';
import type { AppDeps } from '../deps.js';
import { asRequestError, readRequest } from '../validation.js';
import type { Handlers } from './handlers.js';
import { purgeAnswer, required } from './replication.js';

/** buttervolume's snapshot endpoints: take, list, remove, restore, purge. */
export function snapshotHandlers(deps: AppDeps) {
  const { snapshots, restore } = deps.services;
  const schemas = requestSchemas({ format: deps.dtFormat });

  return {
    snapshot: async (c) => {
      const { Name } = await readRequest(c, schemas.snapshot);
      const { name, lacking } = await snapshots.take(Name);
      if (lacking.length === 0) return c.json({ Err: '', Snapshot: name });
      return c.json({
        Err: '',
        Snapshot: name,
        NestedSubvolumes: lacking,
        Warning: `${name} does not contain the ${lacking.length} nested subvolume(s) of ${Name} (${lacking.join(', ')}): btrfs snapshots stop at subvolume boundaries`,
      });
    },

    // `/VolumeDriver.Snapshot.List` lists every snapshot, `…/<volume>` one volume's.
    snapshotList: async (c) => {
      const raw = c.req.param('volume');
      const volume =
        raw === undefined
          ? undefined
          : asRequestError(c.req.path, () => parseRequest(volumeParamSchema, raw));
      return c.json({ Err: '', Snapshots: await snapshots.list(volume) });
    },

    snapshotRemove: async (c) => {
      const { Name } = await readRequest(c, schemas.snapshotRemove);
      await snapshots.remove(Name);
      return c.json({ Err: '' });
    },

    snapshotRestore: async (c) => {
      const { Name, Target, Force } = await readRequest(c, schemas.snapshotRestore);
      const result = await restore.restore({
        source: Name,
        target: Target,
        force: Force,
      });
      return c.json({
        Err: '',
        ...(result.volumeBackup === undefined ? {} : { VolumeBackup: result.volumeBackup }),
        Restored: result.restored,
      });
    },

    snapshotsPurge: async (c) => {
      const { Name, Pattern, Dryrun, Host } = await readRequest(c, schemas.snapshotsPurge);
      // Retention's own refusal ("Invalid purge pattern …") is the Err, as in 3.x.
      const policy = parsePolicy(Pattern);
      const result =
        Host === undefined
          ? await snapshots.purge(Name, policy, Dryrun)
          : await required(deps).purgeHost(Name, Host, policy, {
              dryRun: Dryrun,
              signal: c.req.raw.signal,
            });
      return c.json({ Err: '', ...purgeAnswer(result) });
    },
  } satisfies Partial<Handlers>;
}
