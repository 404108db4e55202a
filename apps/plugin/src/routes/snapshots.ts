import { parseRequest, requestSchemas, volumeParamSchema } from '@buttervolume/api';
import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import { asRequestError, readRequest, sourceOf } from '../validation.js';

/** buttervolume's snapshot endpoints: take, list, remove, restore, purge. */
export function snapshotRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const { snapshots, restore } = deps.services;
  const schemas = requestSchemas({ format: deps.dtFormat });

  app.post('/VolumeDriver.Snapshot', async (c) => {
    const { Name } = await readRequest(c, schemas.snapshot);
    return c.json({ Err: '', Snapshot: await snapshots.create(Name) });
  });

  // 3.x served these as GET; clients that POST everything are answered too.
  app.on(['GET', 'POST'], '/VolumeDriver.Snapshot.List', async (c) =>
    c.json({ Err: '', Snapshots: await snapshots.list() }),
  );
  app.on(['GET', 'POST'], '/VolumeDriver.Snapshot.List/:volume', async (c) => {
    const volume = asRequestError(c.req.path, () =>
      parseRequest(volumeParamSchema, c.req.param('volume')),
    );
    return c.json({ Err: '', Snapshots: await snapshots.list(volume) });
  });

  app.post('/VolumeDriver.Snapshot.Remove', async (c) => {
    const { Name } = await readRequest(c, schemas.snapshotRemove);
    await snapshots.remove(Name);
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Snapshot.Restore', async (c) => {
    const { Name, Target, Force } = await readRequest(c, schemas.snapshotRestore);
    const result = await restore.restore({ source: sourceOf(Name), target: Target, force: Force });
    return c.json({
      Err: '',
      ...(result.volumeBackup === undefined ? {} : { VolumeBackup: result.volumeBackup }),
      Restored: result.restored,
    });
  });

  app.post('/VolumeDriver.Snapshots.Purge', async (c) => {
    const { Name, Pattern, Dryrun } = await readRequest(c, schemas.snapshotsPurge);
    const result = await snapshots.purge(Name, Pattern, Dryrun);
    return c.json({
      Err: '',
      Purged: result.purged,
      Decisions: result.decisions.map((d) => ({
        Name: d.name,
        Action: d.action,
        Reason: d.reason,
      })),
    });
  });

  return app;
}
