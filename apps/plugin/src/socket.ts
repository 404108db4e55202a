// The daemon's unix socket: claimed from a dead daemon (never from a live one), served with the
// app, closed so that requests in flight finish.
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import {
  createServer,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { ifPresent } from '@buttervolume/files';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { DaemonStartError } from './errors.js';

const SOCKET_MODE = 0o660;

export interface SocketServer {
  /**
   * Stops accepting connections and resolves once the requests in flight are answered.
   * Leaves the socket file: the caller removes it once everything else has stopped.
   */
  close(): Promise<void>;
}

/** Serves `app` on `socketPath` (mode 0660), taking the file over from a daemon that died. */
export async function serveSocket(app: Hono, socketPath: string): Promise<SocketServer> {
  await claimSocket(socketPath);
  const server = createAdaptorServer({
    fetch: app.fetch,
    createServer: unixSocketServer as typeof createServer,
  }) as Server;
  await listen(server, socketPath);
  return {
    close: async () => {
      // Docker keeps connections alive: once closing, answer with "Connection: close" and drop
      // connections as soon as they go idle, so shutdown waits only for requests in flight.
      server.on('request', (_req, res: ServerResponse) => res.setHeader('Connection', 'close'));
      const reaper = setInterval(() => server.closeIdleConnections(), 20);
      try {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } finally {
        clearInterval(reaper);
      }
    },
  };
}

/** Removes the socket file (after close). */
export async function removeSocket(socketPath: string): Promise<void> {
  await rm(socketPath, { force: true });
}

/**
 * A socket file left by a daemon that died is removed; one a live daemon answers on is not:
 * two daemons on the same folders would race each other's snapshots and restores.
 */
async function claimSocket(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  const stats = await ifPresent(lstat(socketPath));
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new DaemonStartError(
      `${socketPath} exists and is not a socket: move it away or set BUTTERVOLUME_SOCKET to another path`,
    );
  }
  const answer = await probe(socketPath);
  if (answer === 'live') {
    throw new DaemonStartError(
      `another daemon is already listening on ${socketPath}: stop it first (e.g. "systemctl stop buttervolume"), or set BUTTERVOLUME_SOCKET to another path`,
    );
  }
  await rm(socketPath, { force: true });
}

function probe(socketPath: string): Promise<'live' | 'stale'> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve('stale');
      else
        reject(
          new DaemonStartError(`cannot check ${socketPath}: ${error.message}`, { cause: error }),
        );
    });
  });
}

async function listen(server: Server, socketPath: string): Promise<void> {
  // The umask closes the window between bind() and chmod() in which others could connect.
  const previous = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  await chmod(socketPath, SOCKET_MODE);
}

/**
 * Docker's plugin client sends the socket path as the Host header (`/run/docker/plugins/…`),
 * which is no valid URL authority: @hono/node-server would answer an empty 400 before our app
 * sees the request. On a unix socket the Host header means nothing, so it is normalised.
 */
function unixSocketServer(options: ServerOptions, listener: RequestListener): Server {
  return createServer(options, (req, res) => {
    req.headers.host = 'localhost';
    listener(req, res);
  });
}
