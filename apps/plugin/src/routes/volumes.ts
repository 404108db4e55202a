import { parseCreateOpts, requestSchemas } from '@buttervolume/api';
import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import { asRequestError, readRequest, sourceOf } from '../validation.js';

/** Docker's VolumeDriver volume endpoints, plus Clone. */
export function volumeRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const { volumes } = deps.services;
  const schemas = requestSchemas({ format: deps.dtFormat });

  app.post('/VolumeDriver.Create', async (c) => {
    const { Name, Opts } = await readRequest(c, schemas.create);
    const opts = asRequestError(c.req.path, () => parseCreateOpts(Opts, { format: deps.dtFormat }));
    await volumes.create(Name, {
      copyOnWrite: opts.copyOnWrite,
      sizeBytes: opts.sizeBytes,
      from: opts.from === undefined ? undefined : sourceOf(opts.from),
    });
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Remove', async (c) => {
    const { Name, Force } = await readRequest(c, schemas.remove);
    await volumes.remove(Name, Force);
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Mount', async (c) => {
    const { Name, ID } = await readRequest(c, schemas.mount);
    return c.json({ Mountpoint: await volumes.mount(Name, ID), Err: '' });
  });

  app.post('/VolumeDriver.Path', async (c) => {
    const { Name } = await readRequest(c, schemas.path);
    return c.json({ Mountpoint: await volumes.path(Name), Err: '' });
  });

  app.post('/VolumeDriver.Unmount', async (c) => {
    // 3.x answered success for any name; a name we could never have mounted still is not ours.
    const { Name, ID } = await readRequest(c, schemas.unmount);
    await volumes.unmount(Name, ID);
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Get', async (c) => {
    const { Name } = await readRequest(c, schemas.get);
    const v = await volumes.get(Name);
    const createdAt = v.createdAt.toISOString();
    return c.json({
      Volume: {
        Name: v.name,
        Mountpoint: v.mountpoint,
        CreatedAt: createdAt,
        Status: {
          CreatedAt: createdAt,
          CopyOnWrite: v.status.copyOnWrite,
          ...(v.status.quotaBytes === undefined ? {} : { QuotaBytes: v.status.quotaBytes }),
          ...(v.status.usageBytes === undefined ? {} : { UsageBytes: v.status.usageBytes }),
          Snapshots: v.status.snapshots,
        },
      },
      Err: '',
    });
  });

  app.post('/VolumeDriver.List', async (c) => {
    const names = await volumes.list();
    const base = deps.services.context.layout.volumesPath;
    return c.json({
      Volumes: names.map((name) => ({ Name: name, Mountpoint: `${base}/${name}` })),
      Err: '',
    });
  });

  app.post('/VolumeDriver.Clone', async (c) => {
    const { Name, Target } = await readRequest(c, schemas.clone);
    await volumes.clone(sourceOf(Name), Target);
    return c.json({ Err: '', VolumeCloned: Target });
  });

  return app;
}
