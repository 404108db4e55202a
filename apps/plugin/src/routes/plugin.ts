import { type AppDeps, packageVersion } from '../deps.js';
import type { Handlers } from './handlers.js';

/** Docker's handshake and our version. */
export function pluginHandlers(deps: AppDeps) {
  return {
    activate: (c) => c.json({ Implements: ['VolumeDriver'] }),
    capabilities: (c) => c.json({ Capabilities: { Scope: 'local' } }),
    version: (c) => c.json({ Err: '', Version: deps.version ?? packageVersion() }),
  } satisfies Partial<Handlers>;
}
