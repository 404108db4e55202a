import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import { boolField, createOpts, optionalIdField, sourceField, volumeField } from '../validation.js';
import { body } from './body.js';

/** Docker's VolumeDriver volume endpoints, plus Clone. */
export function volumeRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const { volumes } = deps.services;

  app.post('/VolumeDriver.Create', async (c) => {
    const b = await body(c);
    const name = volumeField(c.req.path, b);
    const opts = createOpts(c.req.path, b, deps.dtFormat);
    await volumes.create(name, opts);
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Remove', async (c) => {
    const b = await body(c);
    const name = volumeField(c.req.path, b);
    await volumes.remove(name, boolField(c.req.path, b, 'Force', false));
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Mount', async (c) => {
    const b = await body(c);
    const name = volumeField(c.req.path, b);
    const mountpoint = await volumes.mount(name, optionalIdField(c.req.path, b));
    return c.json({ Mountpoint: mountpoint, Err: '' });
  });

  app.post('/VolumeDriver.Path', async (c) => {
    const name = volumeField(c.req.path, await body(c));
    return c.json({ Mountpoint: await volumes.path(name), Err: '' });
  });

  app.post('/VolumeDriver.Unmount', async (c) => {
    const b = await body(c);
    // 3.x answered success for any name; a name we could never have mounted still is not ours.
    const name = volumeField(c.req.path, b);
    await volumes.unmount(name, optionalIdField(c.req.path, b));
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Get', async (c) => {
    const name = volumeField(c.req.path, await body(c));
    const v = await volumes.get(name);
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
    const b = await body(c);
    const source = sourceField(c.req.path, b, 'Name', deps.dtFormat);
    const target = volumeField(c.req.path, b, 'Target');
    await volumes.clone(source, target);
    return c.json({ Err: '', VolumeCloned: target });
  });

  return app;
}
