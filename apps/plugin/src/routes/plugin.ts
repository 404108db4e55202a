import { Hono } from 'hono';
import { type AppDeps, packageVersion } from '../app.js';

/** Docker's handshake and our version. */
export function pluginRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  app.post('/Plugin.Activate', (c) => c.json({ Implements: ['VolumeDriver'] }));
  app.post('/VolumeDriver.Capabilities', (c) => c.json({ Capabilities: { Scope: 'local' } }));
  app.on(['GET', 'POST'], '/Buttervolume.Version', (c) =>
    c.json({ Err: '', Version: deps.version ?? packageVersion() }),
  );
  return app;
}
