import { requestSchemas } from '@buttervolume/api';
import type { AppDeps } from '../deps.js';
import { PluginError } from '../errors.js';
import { readRequest } from '../validation.js';
import type { Handlers } from './handlers.js';

/** What peer nodes' daemons ask this one (through its CLI over ssh) about replicated volumes. */
export function replicaHandlers(deps: AppDeps) {
  const schemas = requestSchemas({ format: deps.dtFormat });
  const wired = () => {
    const { replicas } = deps.services;
    if (!replicas) throw new PluginError('NOT_WIRED', 'this daemon does not replicate volumes');
    return replicas;
  };

  return {
    replica: async (c) => {
      const { Name } = await readRequest(c, schemas.replica);
      const replicas = wired();
      const [view, record] = await Promise.all([replicas.view(Name), replicas.record(Name)]);
      return c.json({
        State: view.state,
        Owner: view.owner,
        Epoch: view.epoch,
        Replicas: record?.replicas ?? [],
        Err: '',
      });
    },

    handOver: async (c) => {
      const { Name, To, Have } = await readRequest(c, schemas.handOver);
      const answer = await wired().handOver(Name, To, Have);
      return c.json({
        Snapshot: answer.snapshot,
        Epoch: answer.epoch,
        Unchanged: answer.unchanged === true,
        Held: answer.held ?? {},
        Replicas: answer.replicas ?? [],
        Err: '',
      });
    },

    replicaSet: async (c) => {
      const body = await readRequest(c, schemas.replicaSet);
      const change = body.Set
        ? { set: body.Set }
        : { add: body.Add ?? [], remove: body.Remove ?? [] };
      const { record, added, removed } = await wired().changeSet(body.Name, change);
      return c.json({
        State: record.state,
        Owner: record.owner,
        Epoch: record.epoch,
        Replicas: record.replicas,
        Added: added,
        Removed: removed,
        Err: '',
      });
    },
  } satisfies Partial<Handlers>;
}
