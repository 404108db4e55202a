// Route behaviour without root: createApp over plain stub services, driven by app.request().
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EndpointKey, endpoints } from '@buttervolume/api';
import type { SnapshotName, VolumeName } from '@buttervolume/names';
import { ScheduleStore } from '@buttervolume/scheduler';
import { describe, expect, it } from 'vitest';
import { createApp } from './app.js';
import type { AppDeps, AppServices } from './deps.js';
import { NoSuchVolumeError, PluginError } from './errors.js';
import { createLogger } from './log.js';
import { NotOwnerError } from './services/replicas.js';

const FORMAT = '%Y-%m-%dT%H:%M:%S.%f';
const SNAP = 'v1@2026-01-02T03:04:05.000006';

type Call = { method: string; args: unknown[] };

/** Services that record every call and answer fixed values; `fail` makes one method throw. */
function stubs(fail: Partial<Record<string, Error>> = {}) {
  const calls: Call[] = [];
  const record =
    <T>(method: string, answer: T) =>
    async (...args: unknown[]): Promise<T> => {
      calls.push({ method, args });
      const error = fail[method];
      if (error) throw error;
      return answer;
    };
  const services: AppServices = {
    volumes: {
      create: record('volumes.create', { created: true }),
      remove: record('volumes.remove', undefined),
      mount: record('volumes.mount', '/vols/v1'),
      path: record('volumes.path', '/vols/v1'),
      unmount: record('volumes.unmount', undefined),
      get: record('volumes.get', {
        name: 'v1' as VolumeName,
        mountpoint: '/vols/v1',
        createdAt: new Date(0),
        status: { createdAt: new Date(0), copyOnWrite: true, snapshots: 2 },
      }),
      list: record('volumes.list', ['v1', 'v2'] as VolumeName[]),
      clone: record('volumes.clone', undefined),
      exists: record('volumes.exists', true),
    },
    snapshots: {
      take: record('snapshots.take', { name: SNAP as SnapshotName, lacking: [] as string[] }),
      list: record('snapshots.list', [SNAP]),
      remove: record('snapshots.remove', undefined),
      purge: record('snapshots.purge', {
        purged: [SNAP],
        decisions: [{ name: SNAP, decision: 'purge' as const, reason: 'older than 1h' }],
      }),
    },
    restore: {
      restore: record('restore.restore', {
        target: 'v1' as VolumeName,
        restored: SNAP as SnapshotName,
        volumeBackup: undefined,
      }),
    },
    volumesPath: '/vols',
  };
  return { services, calls };
}

function appWith(services: AppServices, extra: Partial<AppDeps> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'DEBUG', write: (line) => lines.push(line) });
  const app = createApp({ services, logger, dtFormat: FORMAT, version: '9.9.9', ...extra });
  const call = async (path: string, body?: unknown, method = 'POST') => {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await app.request(path, init);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  return { call, lines };
}

describe('createApp', () => {
  it('serves every endpoint of the api map, GET ones on POST too', async () => {
    const { services } = stubs();
    const { call } = appWith(services);
    for (const key of Object.keys(endpoints) as EndpointKey[]) {
      const { method, path } = endpoints[key];
      const methods = method === 'GET' ? ['GET', 'POST'] : ['POST'];
      for (const m of methods) {
        const { status, json } = await call(path, undefined, m);
        expect(status, `${m} ${path}`).toBe(200);
        expect(json.Err === undefined || typeof json.Err === 'string', `${m} ${path}`).toBe(true);
      }
    }
  });

  it('carries NOT_OWNER with the owner and epoch beside Err, and passes Have on', async () => {
    const { services, calls } = stubs();
    const record =
      (method: string, error?: Error) =>
      async (...args: unknown[]) => {
        calls.push({ method, args });
        if (error) throw error;
        return {
          snapshot: SNAP as SnapshotName,
          epoch: 4,
          unchanged: true,
          replicas: ['n1', 'n2'],
        };
      };
    const notOwner = new NotOwnerError('v1', 'n3', 7);
    const { call } = appWith({
      ...services,
      replicas: { handOver: record('replicas.handOver', notOwner) } as never,
    });
    const refused = await call('/Buttervolume.HandOver', { Name: 'v1', To: 'n2' });
    expect(refused.json).toEqual({
      Err: 'v1 is owned by n3 (epoch 7), not by this node',
      Code: 'NOT_OWNER',
      Owner: 'n3',
      Epoch: 7,
    });
    const ok = appWith({
      ...services,
      replicas: { handOver: record('replicas.handOver') } as never,
    });
    expect(
      (await ok.call('/Buttervolume.HandOver', { Name: 'v1', To: 'n2', Have: SNAP })).json,
    ).toEqual({
      Snapshot: SNAP,
      Epoch: 4,
      Unchanged: true,
      Held: {},
      Replicas: ['n1', 'n2'],
      Err: '',
    });
    expect(calls.at(-1)?.args).toEqual(['v1', 'n2', SNAP]);
    const bad = await ok.call('/Buttervolume.HandOver', { Name: 'v1', To: 'n2', Have: '../x' });
    expect(bad.json.Err).toMatch(/^Invalid request to \/Buttervolume\.HandOver: /);
  });

  it('changes a replica set with Set or Add/Remove, and names the owner when not it', async () => {
    const { services } = stubs();
    const changes: unknown[] = [];
    const record = { state: 'owner', owner: 'n1', epoch: 2, replicas: ['n1', 'n4'] };
    const { call } = appWith({
      ...services,
      replicas: {
        changeSet: async (volume: string, change: unknown) => {
          changes.push([volume, change]);
          if (volume === 'v2')
            throw new NotOwnerError('v2', 'n3', 5, 'change its replica set there');
          return { record, added: ['n4'], removed: ['n2'] };
        },
      } as never,
    });
    const ok = await call('/Buttervolume.Replica.Set', { Name: 'v1', Add: ['n4'], Remove: ['n2'] });
    expect(ok.json).toEqual({
      State: 'owner',
      Owner: 'n1',
      Epoch: 2,
      Replicas: ['n1', 'n4'],
      Added: ['n4'],
      Removed: ['n2'],
      Err: '',
    });
    await call('/Buttervolume.Replica.Set', { Name: 'v1', Set: ['n1', 'n4'] });
    expect(changes).toEqual([
      ['v1', { add: ['n4'], remove: ['n2'] }],
      ['v1', { set: ['n1', 'n4'] }],
    ]);
    expect((await call('/Buttervolume.Replica.Set', { Name: 'v2', Add: ['n4'] })).json).toEqual({
      Err: 'v2 is owned by n3 (epoch 5), not by this node: change its replica set there',
      Code: 'NOT_OWNER',
      Owner: 'n3',
      Epoch: 5,
    });
    for (const body of [
      { Name: 'v1' },
      { Name: 'v1', Set: ['n1'], Remove: ['n2'] },
      { Name: 'v1', Add: ['$(touch /tmp/p)'] },
      { Name: '../x', Add: ['n4'] },
    ]) {
      const bad = await call('/Buttervolume.Replica.Set', body);
      expect(bad.json.Err).toMatch(/^Invalid request to \/Buttervolume\.Replica\.Set: /);
    }
    expect(changes).toHaveLength(3);
  });

  it('answers Docker’s handshake and the version it was given', async () => {
    const { call } = appWith(stubs().services);
    expect((await call('/Plugin.Activate')).json).toEqual({ Implements: ['VolumeDriver'] });
    expect((await call('/VolumeDriver.Capabilities')).json).toEqual({
      Capabilities: { Scope: 'local' },
    });
    expect((await call('/Buttervolume.Version', undefined, 'GET')).json).toEqual({
      Err: '',
      Version: '9.9.9',
    });
  });

  it('hands the services parsed values: options, a tagged source', async () => {
    const { services, calls } = stubs();
    const { call } = appWith(services);
    const create = { Name: 'v2', Opts: { size: '1M', from: SNAP } };
    expect((await call('/VolumeDriver.Create', create)).json).toEqual({ Err: '' });
    expect(calls.at(-1)).toEqual({
      method: 'volumes.create',
      args: [
        'v2',
        { copyOnWrite: true, sizeBytes: 1024 ** 2, from: { kind: 'snapshot', name: SNAP } },
      ],
    });
    await call('/VolumeDriver.Create', { Name: 'v4', Opts: { copyonwrite: 'false' } });
    expect(calls.at(-1)?.args).toEqual([
      'v4',
      { copyOnWrite: false, sizeBytes: undefined, from: undefined },
    ]);
    await call('/VolumeDriver.Clone', { Name: 'v1', Target: 'v3' });
    expect(calls.at(-1)?.args).toEqual([{ kind: 'volume', name: 'v1' }, 'v3']);
    await call('/VolumeDriver.Snapshot.Restore', { Name: SNAP });
    expect(calls.at(-1)?.args).toEqual([
      { source: { kind: 'snapshot', name: SNAP }, target: undefined, force: false },
    ]);
  });

  it('refuses hostile names before any service is called', async () => {
    const { services, calls } = stubs();
    const { call } = appWith(services);
    for (const name of ['../x', 'a/b', '-rf', '$(touch /tmp/p)', '"q"', 'x'.repeat(300), '']) {
      const { status, json } = await call('/VolumeDriver.Create', { Name: name });
      expect(status).toBe(200);
      expect(json.Err).toMatch(/^Invalid request to \/VolumeDriver\.Create: /);
    }
    for (const body of ['{', '[]', '{"Name": 5}', 'null']) {
      expect((await call('/VolumeDriver.Remove', body)).json.Err).toMatch(/^Invalid request/);
    }
    const hostile = await call('/VolumeDriver.Snapshot.List/..%2Fx', undefined, 'GET');
    expect(hostile.json.Err).toMatch(/^Invalid request/);
    expect(calls).toEqual([]);
  });

  it('lists volumes with their mountpoints, snapshots of all or one volume', async () => {
    const { services, calls } = stubs();
    const { call } = appWith(services);
    expect((await call('/VolumeDriver.List')).json).toEqual({
      Err: '',
      Volumes: [
        { Name: 'v1', Mountpoint: '/vols/v1' },
        { Name: 'v2', Mountpoint: '/vols/v2' },
      ],
    });
    await call('/VolumeDriver.Snapshot.List', undefined, 'GET');
    expect(calls.at(-1)).toEqual({ method: 'snapshots.list', args: [undefined] });
    const one = await call('/VolumeDriver.Snapshot.List/v1', undefined, 'POST');
    expect(one.json).toEqual({ Err: '', Snapshots: [SNAP] });
    expect(calls.at(-1)).toEqual({ method: 'snapshots.list', args: ['v1'] });
  });

  it('answers Get and Purge in the wire shape', async () => {
    const { call } = appWith(stubs().services);
    expect((await call('/VolumeDriver.Get', { Name: 'v1' })).json).toEqual({
      Err: '',
      Volume: {
        Name: 'v1',
        Mountpoint: '/vols/v1',
        CreatedAt: '1970-01-01T00:00:00.000Z',
        Status: { CreatedAt: '1970-01-01T00:00:00.000Z', CopyOnWrite: true, Snapshots: 2 },
      },
    });
    const { services, calls } = stubs();
    const app = appWith(services);
    const purge = await app.call('/VolumeDriver.Snapshots.Purge', { Name: 'v1', Pattern: '1h:1d' });
    expect(calls.at(-1)?.args).toEqual(['v1', expect.objectContaining({ text: '1h:1d' }), false]);
    const bad = await app.call('/VolumeDriver.Snapshots.Purge', { Name: 'v1', Pattern: '4x' });
    expect(bad.json.Err).toMatch(/^Invalid purge pattern "4x"/);
    expect(calls).toHaveLength(1);
    expect(purge.json).toEqual({
      Err: '',
      Purged: [SNAP],
      Decisions: [{ Name: SNAP, Action: 'purge', Reason: 'older than 1h' }],
    });
  });

  it('maps a typed error to its message and logs an unexpected one with its stack', async () => {
    const { services } = stubs({
      'volumes.remove': new NoSuchVolumeError('v9' as VolumeName),
      'volumes.mount': new TypeError('boom'),
      'snapshots.purge': new PluginError('PURGE_INCOMPLETE', 'Purge of v1 failed on 1'),
    });
    const { call, lines } = appWith(services);
    expect(await call('/VolumeDriver.Remove', { Name: 'v9' })).toEqual({
      status: 200,
      json: { Err: 'v9: no such volume' },
    });
    expect((await call('/VolumeDriver.Mount', { Name: 'v1' })).json).toEqual({ Err: 'boom' });
    const purge = await call('/VolumeDriver.Snapshots.Purge', { Name: 'v1', Pattern: '1h:1d' });
    expect(purge.json).toEqual({ Err: 'Purge of v1 failed on 1' });
    const unexpected = lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'unexpected failure');
    expect(unexpected).toHaveLength(1);
    expect(unexpected[0]).toMatchObject({ level: 'ERROR', path: '/VolumeDriver.Mount' });
  });

  it('answers an Err for features it was started without, 404 for unknown paths', async () => {
    const { call } = appWith(stubs().services);
    expect((await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json.Err).toMatch(
      /without a scheduler/,
    );
    const send = await call('/VolumeDriver.Snapshot.Send', { Name: SNAP, Host: 'b' });
    expect(send.json.Err).toMatch(/without replication/);
    expect((await call('/Buttervolume.Transfers', undefined, 'GET')).json).toEqual({
      Err: '',
      Transfers: [],
    });
    expect(await call('/VolumeDriver.Nope')).toEqual({
      status: 404,
      json: { Err: 'unknown endpoint /VolumeDriver.Nope' },
    });
  });

  it('logs Docker’s polling at debug level and changes at info', async () => {
    const { call, lines } = appWith(stubs().services);
    await call('/VolumeDriver.Get', { Name: 'v1' });
    await call('/VolumeDriver.Remove', { Name: 'v1' });
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.map((l) => [l.path, l.level])).toEqual([
      ['/VolumeDriver.Get', 'DEBUG'],
      ['/VolumeDriver.Remove', 'INFO'],
    ]);
  });

  it('schedules through the scheduler’s parser: timer "00" removes the job, as in the CLI', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-h9s-app-'));
    try {
      const path = join(dir, 'schedule.csv');
      const store = new ScheduleStore(path);
      const scheduler = { status: async () => ({ paused: false, jobs: [], problems: [] }) };
      const { call } = appWith(stubs().services, { scheduling: { store, scheduler } });
      const job = { Name: 'data', Action: 'purge:4h:1d', Timer: 60 };
      expect((await call('/VolumeDriver.Schedule', job)).json).toEqual({ Err: '' });
      expect(await readFile(path, 'utf8')).toBe('data,purge:4h:1d,60,True\r\n');
      for (const bad of [
        { ...job, Name: '../x' },
        { ...job, Action: 'replicate:$(touch /tmp/p)' },
        { ...job, Timer: 'often' },
        '{"Name": ',
      ]) {
        const { json } = await call('/VolumeDriver.Schedule', bad);
        expect(json.Err).toMatch(/^Invalid request to \/VolumeDriver\.Schedule: /);
      }
      expect(await readFile(path, 'utf8')).toBe('data,purge:4h:1d,60,True\r\n');
      expect((await call('/VolumeDriver.Schedule', { ...job, Timer: '00' })).json).toEqual({
        Err: '',
      });
      expect(await readFile(path, 'utf8')).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
