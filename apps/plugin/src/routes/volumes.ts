import { parseCreateOpts, requestSchemas } from '@buttervolume/api';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import type { ReplicaRecord } from '../services/replicas.js';
import { asRequestError, readRequest } from '../validation.js';
import type { Handlers } from './handlers.js';
import { inspectHealth } from './health.js';

/** What Get's Status shows of a replicated volume (docker volume inspect). */
export function replicationStatus(record: ReplicaRecord) {
  return {
    State: record.state,
    Owner: record.owner,
    Epoch: record.epoch,
    Replicas: record.replicas,
    Failover: record.failover,
    ...(record.setAside?.length ? { StaleCopiesSetAside: record.setAside.map((s) => s.path) } : {}),
    ...(record.failedOver
      ? {
          FailedOver: {
            From: record.failedOver.from,
            Snapshot: record.failedOver.snapshot,
            DataAgeSeconds: record.failedOver.dataAgeSeconds,
            At: record.failedOver.at,
          },
        }
      : {}),
  };
}

/** Docker's VolumeDriver volume endpoints, plus Clone. */
export function volumeHandlers(deps: AppDeps) {
  const { volumes, replicas } = deps.services;
  const schemas = requestSchemas({ format: deps.dtFormat });

  return {
    create: async (c) => {
      const { Name, Opts } = await readRequest(c, schemas.create);
      const opts = asRequestError(c.req.path, () =>
        parseCreateOpts(Opts, { format: deps.dtFormat }),
      );
      const options = {
        copyOnWrite: opts.copyOnWrite,
        sizeBytes: opts.sizeBytes,
        from: opts.from,
        compression: opts.compression,
      };
      if (opts.replicas.length === 0) await volumes.create(Name, options);
      else if (replicas) await replicas.create(Name, opts.replicas, opts.failover, options);
      else throw new PluginError('NOT_WIRED', 'this daemon does not replicate volumes');
      return c.json({ Err: '' });
    },

    remove: async (c) => {
      const { Name, Force } = await readRequest(c, schemas.remove);
      await volumes.remove(Name, Force);
      return c.json({ Err: '' });
    },

    mount: async (c) => {
      const { Name, ID } = await readRequest(c, schemas.mount);
      const mountpoint = replicas ? await replicas.mount(Name, ID) : await volumes.mount(Name, ID);
      return c.json({ Mountpoint: mountpoint, Err: '' });
    },

    path: async (c) => {
      const { Name } = await readRequest(c, schemas.path);
      return c.json({ Mountpoint: await volumes.path(Name), Err: '' });
    },

    unmount: async (c) => {
      // 3.x answered success for any name; a name we could never have mounted still is not ours.
      const { Name, ID } = await readRequest(c, schemas.unmount);
      await (replicas ?? volumes).unmount(Name, ID);
      return c.json({ Err: '' });
    },

    get: async (c) => {
      const { Name } = await readRequest(c, schemas.get);
      const record = await replicas?.record(Name);
      const replication = record ? { Replication: replicationStatus(record) } : {};
      if (record?.state === 'replica' && !(await volumes.exists(Name))) {
        // A replica node has no data until a hand-over: Docker still needs the volume to exist.
        const mountpoint = `${deps.services.volumesPath}/${Name}`;
        return c.json({ Volume: { Name, Mountpoint: mountpoint, Status: replication }, Err: '' });
      }
      const v = await volumes.get(Name);
      // Health is extra: a Get without it beats a failed `docker volume inspect`.
      const health =
        deps.health &&
        (await deps.health.brief(Name).catch((error: unknown) => {
          deps.logger.warn('Get without health', { volume: Name, error });
          return undefined;
        }));
      const createdAt = v.createdAt.toISOString();
      return c.json({
        Volume: {
          Name: v.name,
          Mountpoint: v.mountpoint,
          CreatedAt: createdAt,
          Status: {
            CreatedAt: createdAt,
            CopyOnWrite: v.status.copyOnWrite,
            ...(v.status.compression === undefined ? {} : { Compression: v.status.compression }),
            ...(v.status.quotaBytes === undefined ? {} : { QuotaBytes: v.status.quotaBytes }),
            ...(v.status.usageBytes === undefined ? {} : { UsageBytes: v.status.usageBytes }),
            Snapshots: v.status.snapshots,
            ...(v.status.nestedSubvolumes === undefined
              ? {}
              : {
                  NestedSubvolumes: v.status.nestedSubvolumes,
                  Warning: `snapshots of ${v.name} do not contain its nested subvolumes`,
                }),
            ...(health ? inspectHealth(health) : {}),
            ...replication,
          },
        },
        Err: '',
      });
    },

    list: async (c) => {
      const names = await volumes.list();
      const base = deps.services.volumesPath;
      return c.json({
        Volumes: names.map((name) => ({ Name: name, Mountpoint: `${base}/${name}` })),
        Err: '',
      });
    },

    clone: async (c) => {
      const { Name, Target } = await readRequest(c, schemas.clone);
      await volumes.clone(Name, Target);
      return c.json({ Err: '', VolumeCloned: Target });
    },
  } satisfies Partial<Handlers>;
}
