import { existsSync, statSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, silentLogger, startDaemon } from '../../src/index.js';
import { type Caller, configFor, createFixture, type Fixture, overSocket } from './helpers.js';

describe('the daemon on a real unix socket', () => {
  let fx: Fixture;
  let daemon: Daemon | undefined;
  let call: Caller;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
    daemon = await startDaemon(fx.config, { logger: silentLogger });
    call = overSocket(daemon.socketPath);
  });
  afterAll(async () => {
    await daemon?.close();
    await fx?.cleanup();
  });

  it('listens with mode 0660', async () => {
    const stats = await stat(fx.config.socket);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o660);
  });

  it('answers dockerd, which sends the socket path as the Host header', async () => {
    const { request } = await import('node:http');
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          socketPath: fx.config.socket,
          method: 'POST',
          path: '/Plugin.Activate',
          headers: {
            Host: fx.config.socket,
            'Content-Type': 'application/vnd.docker.plugins.v1.2+json',
          },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ Implements: ['VolumeDriver'] });
  });

  it('limits bodies by their Content-Length or as they stream (chunked), and reads small ones', async () => {
    const { request } = await import('node:http');
    const post = (body: string, headers: Record<string, string>) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = request(
          { socketPath: fx.config.socket, method: 'POST', path: '/VolumeDriver.Create', headers },
          (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => {
              text += chunk.toString();
            });
            res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
          },
        );
        req.on('error', reject);
        // Written in two pieces: without a Content-Length, Node sends them chunked.
        req.write(body.slice(0, 10));
        req.end(body.slice(10));
      });
    const big = JSON.stringify({ Name: 'bigbody', Pad: 'x'.repeat(100_000) });
    const before = await fx.listing();
    const sized = await post(big, { 'Content-Length': String(Buffer.byteLength(big)) });
    expect(sized.Err).toMatch(/larger than 65536 bytes/);
    const chunked = await post(big, {});
    expect(chunked.Err).toMatch(/larger than 65536 bytes/);
    expect(await fx.listing()).toEqual(before);
    const small = JSON.stringify({ Name: 'chunkedbody' });
    expect((await post(small, {})).Err).toBe('');
    expect((await fx.listing()).volumes).toContain('chunkedbody');
    expect((await call('/VolumeDriver.Remove', { Name: 'chunkedbody' })).json.Err).toBe('');
  });

  it('serves every endpoint with COMPAT’s shapes', async () => {
    expect((await call('/Plugin.Activate', '')).json).toEqual({ Implements: ['VolumeDriver'] });
    expect((await call('/VolumeDriver.Capabilities', '')).json).toEqual({
      Capabilities: { Scope: 'local' },
    });
    expect(
      (await call('/VolumeDriver.Create', { Name: 'sock1', Opts: { copyonwrite: 'true' } })).json,
    ).toEqual({ Err: '' });
    const mountpoint = join(fx.volumesPath, 'sock1');
    expect((await call('/VolumeDriver.Mount', { Name: 'sock1', ID: 'm1' })).json).toEqual({
      Mountpoint: mountpoint,
      Err: '',
    });
    expect((await call('/VolumeDriver.Path', { Name: 'sock1' })).json).toEqual({
      Mountpoint: mountpoint,
      Err: '',
    });
    expect((await call('/VolumeDriver.Unmount', { Name: 'sock1', ID: 'm1' })).json).toEqual({
      Err: '',
    });
    const get = (await call('/VolumeDriver.Get', { Name: 'sock1' })).json;
    expect(get).toMatchObject({
      Err: '',
      Volume: {
        Name: 'sock1',
        Mountpoint: mountpoint,
        Status: { CopyOnWrite: true, Snapshots: 0 },
      },
    });
    expect((await call('/VolumeDriver.List', '')).json).toEqual({
      Err: '',
      Volumes: [{ Name: 'sock1', Mountpoint: mountpoint }],
    });
    await writeFile(join(mountpoint, 'f'), 'x');
    const snap = (await call('/VolumeDriver.Snapshot', { Name: 'sock1' })).json;
    expect(snap).toEqual({ Err: '', Snapshot: expect.stringMatching(/^sock1@/) });
    expect((await call('/VolumeDriver.Snapshot.List', undefined, 'GET')).json).toEqual({
      Err: '',
      Snapshots: [snap.Snapshot],
    });
    expect((await call('/VolumeDriver.Snapshot.List/sock1', undefined, 'GET')).json).toEqual({
      Err: '',
      Snapshots: [snap.Snapshot],
    });
    const restore = (await call('/VolumeDriver.Snapshot.Restore', { Name: snap.Snapshot })).json;
    expect(restore).toEqual({
      Err: '',
      VolumeBackup: expect.stringMatching(/^sock1@/),
      Restored: snap.Snapshot,
    });
    expect((await call('/VolumeDriver.Clone', { Name: 'sock1', Target: 'sock2' })).json).toEqual({
      Err: '',
      VolumeCloned: 'sock2',
    });
    const purge = (
      await call('/VolumeDriver.Snapshots.Purge', { Name: 'sock1', Pattern: '1h:1d', Dryrun: true })
    ).json;
    expect(purge).toEqual({ Err: '', Purged: [], Decisions: expect.any(Array) });
    expect(
      (await call('/VolumeDriver.Snapshot.Remove', { Name: restore.VolumeBackup })).json,
    ).toEqual({ Err: '' });
    expect((await call('/VolumeDriver.Remove', { Name: 'sock2' })).json).toEqual({ Err: '' });
    expect((await call('/Buttervolume.Version', undefined, 'GET')).json).toEqual({
      Err: '',
      Version: expect.any(String),
    });
    expect((await call('/Buttervolume.Transfers', undefined, 'GET')).json).toEqual({
      Err: '',
      Transfers: [],
    });
    // Replication is exercised against host B in replication.test.ts; here only the shapes of
    // its refusals: a body without its fields names them.
    expect((await call('/VolumeDriver.Snapshot.Send', {})).json.Err).toMatch(/Name/);
    expect((await call('/VolumeDriver.Volume.Sync', {})).json.Err).toMatch(/Volumes/);
    const schedule = { Name: 'sock1', Action: 'snapshot', Timer: 60 };
    expect((await call('/VolumeDriver.Schedule', schedule)).json).toEqual({ Err: '' });
    const list = (await call('/VolumeDriver.Schedule.List', undefined, 'GET')).json;
    expect(list).toMatchObject({
      Err: '',
      Schedule: [{ Name: 'sock1', Action: 'snapshot', Timer: '60', Active: 'True' }],
    });
    expect((await call('/VolumeDriver.Schedule.Pause', '')).json).toEqual({ Err: '' });
    expect((await call('/VolumeDriver.Schedule.Resume', '')).json).toEqual({ Err: '' });
    expect((await call('/VolumeDriver.Schedule', { ...schedule, Timer: 'delete' })).json).toEqual({
      Err: '',
    });
    const unknown = await call('/Nope', {});
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ Err: 'unknown endpoint /Nope' });
  });

  it('refuses to start while a live daemon answers on the socket', async () => {
    await expect(startDaemon(fx.config, { logger: silentLogger })).rejects.toThrow(
      /another daemon is already listening on .*stop it first/,
    );
    expect((await call('/Plugin.Activate', '')).json).toEqual({ Implements: ['VolumeDriver'] });
  });

  it('keeps knowing what is mounted across a restart, and replaces a stale socket', async () => {
    const snapshot = (await call('/VolumeDriver.Snapshot', { Name: 'sock1' })).json.Snapshot;
    await call('/VolumeDriver.Mount', { Name: 'sock1', ID: 'ctr-restart' });
    await daemon?.close();
    // A daemon killed with SIGKILL leaves its socket file behind, with nobody accepting on it.
    const child = execa(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(fx.config.socket)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
    child.kill('SIGKILL');
    await child.catch(() => {});
    expect((await stat(fx.config.socket)).isSocket()).toBe(true);
    daemon = await startDaemon(fx.config, { logger: silentLogger });
    call = overSocket(daemon.socketPath);
    // Restore counts Docker's mount IDs (a starting container has one before it has a mount).
    const refused = await call('/VolumeDriver.Snapshot.Restore', { Name: snapshot });
    expect(refused.json.Err).toBe(
      'sock1 is mounted by 1 container(s) (ctr-restart); stop them first or pass Force',
    );
  });

  it('lets a request in flight finish on shutdown', async () => {
    await daemon?.close();
    let inFlight!: () => void;
    const reached = new Promise<void>((resolve) => {
      inFlight = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    daemon = await startDaemon(fx.config, {
      logger: silentLogger,
      afterRestoreStep: async (step) => {
        if (step !== 'staging') return;
        inFlight();
        await released;
      },
    });
    call = overSocket(daemon.socketPath);
    const snapshot = (await call('/VolumeDriver.Snapshot', { Name: 'sock1' })).json.Snapshot;
    const restoring = call('/VolumeDriver.Snapshot.Restore', { Name: snapshot, Force: true });
    await reached;
    let closed = false;
    const closing = daemon.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(false);
    release();
    const res = await restoring;
    await closing;
    expect(res.json).toMatchObject({ Err: '', Restored: snapshot });
    await expect(stat(fx.config.socket)).rejects.toThrow(/ENOENT/);
    daemon = undefined;
  });
});

describe('daemon start refusals', () => {
  let fx: Fixture;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('refuses paths that do not exist and whose parent is not a btrfs folder, saying what to do', async () => {
    const config = configFor(
      join(fx.fs.mountPoint, 'absent', 'volumes'),
      fx.snapshotsPath,
      join(fx.fs.dir, 'run'),
    );
    await expect(startDaemon(config, { logger: silentLogger })).rejects.toThrow(
      /VOLUMES_PATH .*absent\/volumes does not exist: create it .*buttervolume init.*BUTTERVOLUME_VOLUMES_PATH/,
    );
    expect(existsSync(join(fx.fs.mountPoint, 'absent'))).toBe(false);
  });

  it('creates a missing last folder on a btrfs mount (a fresh managed plugin)', async () => {
    const volumes = join(fx.fs.mountPoint, 'fresh-volumes');
    const snapshots = join(fx.fs.mountPoint, 'fresh-snapshots');
    const daemon = await startDaemon(configFor(volumes, snapshots, join(fx.fs.dir, 'run-fresh')), {
      logger: silentLogger,
    });
    await daemon.close();
    expect(statSync(volumes).isDirectory()).toBe(true);
    expect(statSync(snapshots).isDirectory()).toBe(true);
  });

  it('refuses paths that are not on btrfs', async () => {
    const notBtrfs = join(fx.fs.dir, 'plain-snapshots');
    await mkdir(notBtrfs);
    const config = configFor(fx.volumesPath, notBtrfs, join(fx.fs.dir, 'run'));
    await expect(startDaemon(config, { logger: silentLogger })).rejects.toThrow(
      /SNAPSHOTS_PATH .* is not on a btrfs filesystem/,
    );
  });

  it('refuses a socket path taken by something that is not a socket', async () => {
    await writeFile(fx.config.socket, 'not a socket');
    await expect(startDaemon(fx.config, { logger: silentLogger })).rejects.toThrow(
      /is not a socket/,
    );
  });
});
