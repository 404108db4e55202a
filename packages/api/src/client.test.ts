import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ButtervolumeClient } from './client.js';
import {
  DaemonError,
  DaemonTimeoutError,
  DaemonUnavailableError,
  ProtocolError,
} from './errors.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let dir: string;
let socketPath: string;
let server: Server | undefined;
let seen: { method: string; url: string; body: string; type: string | undefined }[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-api-'));
  socketPath = join(dir, 'bv-test.sock');
  seen = [];
});

afterEach(async () => {
  const running = server;
  server = undefined;
  if (running) {
    running.closeAllConnections();
    await new Promise<void>((resolve) => running.close(() => resolve()));
  }
  await rm(dir, { recursive: true, force: true });
});

async function serve(handler: Handler): Promise<ButtervolumeClient> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body,
        type: req.headers['content-type'],
      });
      handler(req, body, res);
    });
  });
  const listening = server;
  await new Promise<void>((resolve) => listening.listen(socketPath, resolve));
  return new ButtervolumeClient({ socketPath, timeoutMs: 2000 });
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

describe('ButtervolumeClient', () => {
  it('posts JSON to the endpoint and resolves with the answer', async () => {
    const client = await serve((_req, _body, res) =>
      json(res, { Err: '', Snapshot: 'data@2026-01-01T00:00:00.000000' }),
    );
    await expect(client.snapshot('data')).resolves.toEqual({
      Err: '',
      Snapshot: 'data@2026-01-01T00:00:00.000000',
    });
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/VolumeDriver.Snapshot',
        body: '{"Name":"data"}',
        type: 'application/json',
      },
    ]);
  });

  it('sends each endpoint its COMPAT fields', async () => {
    const client = await serve((_req, _body, res) => json(res, { Err: '' }));
    await client.restore('data', { target: 'other', force: true });
    await client.restore('data');
    await client.send('data@x', 'h1', { incremental: false });
    await client.sync(['a1', 'b2'], ['h1'], { delete: true });
    await client.purge('data', '1h:1d', { dryrun: true });
    await client.schedule('data', 'snapshot', 'pause');
    await client.remove('data', { force: true });
    await client.create('data', { copyonwrite: 'false' });
    await client.clone('data', 'copy');
    expect(seen.map((call) => [call.url, JSON.parse(call.body)])).toEqual([
      ['/VolumeDriver.Snapshot.Restore', { Name: 'data', Target: 'other', Force: true }],
      ['/VolumeDriver.Snapshot.Restore', { Name: 'data' }],
      ['/VolumeDriver.Snapshot.Send', { Name: 'data@x', Host: 'h1', Incremental: false }],
      ['/VolumeDriver.Volume.Sync', { Volumes: ['a1', 'b2'], Hosts: ['h1'], Delete: true }],
      ['/VolumeDriver.Snapshots.Purge', { Name: 'data', Pattern: '1h:1d', Dryrun: true }],
      ['/VolumeDriver.Schedule', { Name: 'data', Action: 'snapshot', Timer: 'pause' }],
      ['/VolumeDriver.Remove', { Name: 'data', Force: true }],
      ['/VolumeDriver.Create', { Name: 'data', Opts: { copyonwrite: 'false' } }],
      ['/VolumeDriver.Clone', { Name: 'data', Target: 'copy' }],
    ]);
  });

  it('uses GET without a body for the list endpoints', async () => {
    const client = await serve((_req, _body, res) =>
      json(res, { Err: '', Snapshots: [], Schedule: [], Transfers: [] }),
    );
    await client.snapshots();
    await client.snapshots('data');
    await client.scheduleList();
    await client.transfers();
    await client.version();
    expect(seen.map((call) => `${call.method} ${call.url} ${call.body}`)).toEqual([
      'GET /VolumeDriver.Snapshot.List ',
      'GET /VolumeDriver.Snapshot.List/data ',
      'GET /VolumeDriver.Schedule.List ',
      'GET /Buttervolume.Transfers ',
      'GET /Buttervolume.Version ',
    ]);
  });

  it('answers without Err (Activate, Capabilities) are successes', async () => {
    const client = await serve((_req, _body, res) => json(res, { Implements: ['VolumeDriver'] }));
    await expect(client.activate()).resolves.toEqual({ Implements: ['VolumeDriver'] });
  });

  it('turns a non-empty Err into a DaemonError carrying the text and the answer', async () => {
    const client = await serve((_req, _body, res) =>
      json(res, { Err: 'data: no such volume', Extra: 1 }),
    );
    const error = await client.snapshot('data').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonError);
    expect(error).toMatchObject({
      code: 'DAEMON_ERROR',
      endpoint: '/VolumeDriver.Snapshot',
      message: 'data: no such volume',
      response: { Err: 'data: no such volume', Extra: 1 },
    });
  });

  it('reports a 404 with an Err as a DaemonError', async () => {
    const client = await serve((req, _body, res) =>
      json(res, { Err: `unknown endpoint ${req.url}` }, 404),
    );
    const error = await client.version().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonError);
    expect(error).toMatchObject({ message: 'unknown endpoint /Buttervolume.Version' });
  });

  it.each([
    ['plain text', (res: ServerResponse) => res.end('Internal Server Error')],
    ['a JSON array', (res: ServerResponse) => json(res, [1])],
    ['a numeric Err', (res: ServerResponse) => json(res, { Err: 5 })],
    ['HTTP 500 JSON without Err', (res: ServerResponse) => json(res, { ok: true }, 500)],
  ])('turns %s into a ProtocolError', async (_what, reply) => {
    const client = await serve((_req, _body, res) => reply(res));
    const error = await client.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('PROTOCOL_ERROR');
    expect((error as ProtocolError).message).toContain('/VolumeDriver.List');
  });

  it('reports a connection cut mid-answer as a ProtocolError', async () => {
    const client = await serve((req) => req.socket.destroy());
    await expect(client.list()).rejects.toBeInstanceOf(ProtocolError);
  });

  it('says how to start the daemon when nothing listens on the socket', async () => {
    const client = new ButtervolumeClient({ socketPath: join(dir, 'bv-missing.sock') });
    const error = await client.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonUnavailableError);
    expect(error).toMatchObject({ code: 'DAEMON_UNAVAILABLE', reason: 'ENOENT' });
    const message = (error as Error).message;
    expect(message).toContain(join(dir, 'bv-missing.sock'));
    expect(message).toContain('buttervolume run');
    expect(message).toContain('systemctl start buttervolume');
    expect(message).toContain('BUTTERVOLUME_SOCKET');
  });

  it('reports a socket left behind by a killed daemon as unavailable (ECONNREFUSED)', async () => {
    // A SIGKILLed listener cannot unlink its socket: exactly the file a crashed daemon leaves.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ]);
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    } finally {
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    }
    const error = await new ButtervolumeClient({ socketPath })
      .list()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonUnavailableError);
    expect((error as DaemonUnavailableError).reason).toBe('ECONNREFUSED');
  });

  it('times out a quick call that hangs, but not a send', async () => {
    const client = await serve((req, _body, res) => {
      if (req.url === '/VolumeDriver.Snapshot.Send') setTimeout(() => json(res, { Err: '' }), 300);
    });
    const quick = new ButtervolumeClient({ socketPath, timeoutMs: 100 });
    const error = await quick.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DaemonTimeoutError);
    await expect(quick.send('data@x', 'h1')).resolves.toEqual({ Err: '' });
    expect(client.timeoutMs).toBe(2000);
  });
});
