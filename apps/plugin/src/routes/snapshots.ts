import { VolumeName } from '@buttervolume/names';
import { Hono } from 'hono';
import type { AppDeps } from '../app.js';
import {
  boolField,
  optionalVolumeField,
  snapshotOrMarkerField,
  sourceField,
  stringField,
  volumeField,
} from '../validation.js';
import { body } from './body.js';

/** buttervolume's snapshot endpoints: take, list, remove, restore, purge. */
export function snapshotRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  const { snapshots, restore } = deps.services;

  app.post('/VolumeDriver.Snapshot', async (c) => {
    const name = volumeField(c.req.path, await body(c));
    return c.json({ Err: '', Snapshot: await snapshots.create(name) });
  });

  // 3.x served these as GET; clients that POST everything are answered too.
  app.on(['GET', 'POST'], '/VolumeDriver.Snapshot.List', async (c) =>
    c.json({ Err: '', Snapshots: await snapshots.list() }),
  );
  app.on(['GET', 'POST'], '/VolumeDriver.Snapshot.List/:volume', async (c) => {
    const volume = VolumeName.parse(c.req.param('volume'));
    return c.json({ Err: '', Snapshots: await snapshots.list(volume) });
  });

  app.post('/VolumeDriver.Snapshot.Remove', async (c) => {
    const name = snapshotOrMarkerField(c.req.path, await body(c), deps.dtFormat);
    await snapshots.remove(name);
    return c.json({ Err: '' });
  });

  app.post('/VolumeDriver.Snapshot.Restore', async (c) => {
    const b = await body(c);
    const source = sourceField(c.req.path, b, 'Name', deps.dtFormat);
    const target = optionalVolumeField(b, 'Target');
    const force = boolField(c.req.path, b, 'Force', false);
    const result = await restore.restore({ source, target, force });
    return c.json({
      Err: '',
      ...(result.volumeBackup === undefined ? {} : { VolumeBackup: result.volumeBackup }),
      Restored: result.restored,
    });
  });

  app.post('/VolumeDriver.Snapshots.Purge', async (c) => {
    const b = await body(c);
    const name = volumeField(c.req.path, b);
    const pattern = stringField(c.req.path, b, 'Pattern');
    const dryrun = boolField(c.req.path, b, 'Dryrun', false);
    const result = await snapshots.purge(name, pattern, dryrun);
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
