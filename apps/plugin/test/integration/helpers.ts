import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { type Config, loadConfig } from '@buttervolume/config';
import { createLoopBtrfs, type LoopBtrfs } from '@buttervolume/test-utils';
import {
  createDaemonApp,
  type DaemonApp,
  type DaemonOptions,
  silentLogger,
} from '../../src/index.js';

export type Json = Record<string, unknown>;

export interface Fixture {
  fs: LoopBtrfs;
  config: Config;
  volumesPath: string;
  snapshotsPath: string;
  /** Everything on the loop mount, to prove a request changed nothing. */
  listing(): Promise<{ volumes: string[]; snapshots: string[] }>;
  cleanup(): Promise<void>;
}

/** A loop btrfs with the two folders, and a config pointing at it (socket and run dir inside). */
export async function createFixture(sizeMiB = 512): Promise<Fixture> {
  const fs = await createLoopBtrfs({ sizeMiB });
  try {
    const volumesPath = join(fs.mountPoint, 'volumes');
    const snapshotsPath = join(fs.mountPoint, 'snapshots');
    const runPath = join(fs.dir, 'run');
    await mkdir(volumesPath);
    await mkdir(snapshotsPath);
    await mkdir(runPath);
    const config = configFor(volumesPath, snapshotsPath, runPath);
    return {
      fs,
      config,
      volumesPath,
      snapshotsPath,
      listing: async () => ({
        volumes: (await readdir(volumesPath)).sort(),
        snapshots: (await readdir(snapshotsPath)).sort(),
      }),
      cleanup: () => fs.cleanup(),
    };
  } catch (error) {
    await fs.cleanup();
    throw error;
  }
}

export function configFor(volumesPath: string, snapshotsPath: string, runPath: string): Config {
  return loadConfig({
    env: {
      BUTTERVOLUME_VOLUMES_PATH: volumesPath,
      BUTTERVOLUME_SNAPSHOTS_PATH: snapshotsPath,
      BUTTERVOLUME_RUNPATH: runPath,
      BUTTERVOLUME_SOCKET: join(runPath, `bv-${randomBytes(4).toString('hex')}.sock`),
      BUTTERVOLUME_SCHEDULE: join(runPath, 'schedule.csv'),
    },
    iniPath: join(runPath, 'no-such-config.ini'),
  });
}

export async function inProcess(
  config: Config,
  options: DaemonOptions = {},
): Promise<DaemonApp & { call: Caller }> {
  const daemon = await createDaemonApp(config, { logger: silentLogger, ...options });
  const call: Caller = async (path, body, method = 'POST') => {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await daemon.app.request(path, init);
    return { status: res.status, json: (await res.json()) as Json };
  };
  return { ...daemon, call };
}

export type Caller = (
  path: string,
  body?: unknown,
  method?: 'GET' | 'POST',
) => Promise<{ status: number; json: Json }>;

/** The same calls over a real unix socket, as Docker and the CLI make them. */
export function overSocket(socketPath: string): Caller {
  return (path, body, method = 'POST') =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      const req = httpRequest(
        {
          socketPath,
          path,
          method,
          headers: {
            'Content-Type': 'application/vnd.docker.plugins.v1.2+json',
            'Content-Length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                json: JSON.parse(Buffer.concat(chunks).toString()) as Json,
              });
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}

export function suffix(): string {
  return randomBytes(4).toString('hex');
}
