import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  containerProcesses,
  type Dockerd,
  DockerdError,
  registerVolumePlugin,
  startDockerd,
  uniquePluginName,
} from '../../src/dockerd.js';
import { requireRealEnvironment } from '../../src/environment.js';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(dir));
}

function processesReferencing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function expectGone(dockerd: Dockerd): Promise<void> {
  expect(existsSync(dockerd.dir)).toBe(false);
  expect(mountsUnder(dockerd.dir)).toEqual([]);
  expect(processesReferencing(dockerd.dir)).toEqual([]);
}

/** A minimal legacy VolumeDriver keeping volumes as plain directories under `root`. */
async function fakeVolumePlugin(root: string, socketPath: string): Promise<Server> {
  const volumes = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', async () => {
      const input = (body ? JSON.parse(body) : {}) as { Name?: string };
      const name = input.Name ?? '';
      const mountpoint = join(root, name);
      let reply: unknown = { Err: '' };
      switch (req.url) {
        case '/Plugin.Activate':
          reply = { Implements: ['VolumeDriver'] };
          break;
        case '/VolumeDriver.Create':
          await mkdir(mountpoint, { recursive: true });
          volumes.add(name);
          break;
        case '/VolumeDriver.Remove':
          volumes.delete(name);
          await rm(mountpoint, { recursive: true, force: true });
          break;
        case '/VolumeDriver.Mount':
        case '/VolumeDriver.Path':
          reply = { Mountpoint: mountpoint, Err: '' };
          break;
        case '/VolumeDriver.Get':
          reply = volumes.has(name)
            ? { Volume: { Name: name, Mountpoint: mountpoint }, Err: '' }
            : { Err: `${name}: no such volume` };
          break;
        case '/VolumeDriver.List':
          reply = { Volumes: [...volumes].map((n) => ({ Name: n })), Err: '' };
          break;
        case '/VolumeDriver.Capabilities':
          reply = { Capabilities: { Scope: 'local' } };
          break;
      }
      res.setHeader('Content-Type', 'application/vnd.docker.plugins.v1.2+json');
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

describe('private dockerd fixture', () => {
  beforeAll(() => requireRealEnvironment(['dockerd', 'containerd', 'runc', 'busybox', 'tar']));

  it('runs a busybox container with a local volume and leaves nothing behind', async () => {
    const dockerd = await startDockerd();
    try {
      expect(dockerd.host).toBe(`unix://${dockerd.socketPath}`);
      expect(dockerd.startupMs).toBeGreaterThan(0);
      console.info(`dockerd (${dockerd.storageDriver}) answered after ${dockerd.startupMs} ms`);

      const image = await dockerd.importBusybox();
      const hi = await dockerd.docker(['run', '--rm', '--network', 'none', image, 'echo', 'hi']);
      expect(hi).toMatchObject({ stdout: 'hi', exitCode: 0 });

      await dockerd.docker(['volume', 'create', 'bv-local'], { reject: true });
      await dockerd.docker(
        [
          'run',
          '--rm',
          '--network',
          'none',
          '-v',
          'bv-local:/data',
          image,
          'sh',
          '-c',
          'echo kept > /data/f',
        ],
        { reject: true },
      );
      const read = await dockerd.docker(
        ['run', '--rm', '--network', 'none', '-v', 'bv-local:/data', image, 'cat', '/data/f'],
        { reject: true },
      );
      expect(read.stdout).toBe('kept');
      // The volume lives inside the private data root, not in the machine's /var/lib/docker.
      const inspect = await dockerd.docker(
        ['volume', 'inspect', '--format', '{{.Mountpoint}}', 'bv-local'],
        { reject: true },
      );
      expect(inspect.stdout.startsWith(`${dockerd.dataRoot}/`)).toBe(true);

      const failing = await dockerd.docker(['run', '--rm', '--network', 'none', image, 'false']);
      expect(failing.exitCode).toBe(1);
      await expect(
        dockerd.docker(['inspect', 'bv-no-such-thing'], { reject: true }),
      ).rejects.toThrow(DockerdError);
    } finally {
      await dockerd.stop();
    }
    await expectGone(dockerd);
    await dockerd.stop(); // idempotent
  });

  it('stops containers still running and unmounts their layers', async () => {
    const dockerd = await startDockerd();
    try {
      const image = await dockerd.importBusybox('bv-box:one');
      await dockerd.docker(['run', '-d', '--network', 'none', image, 'sleep', '600'], {
        reject: true,
      });
      expect(mountsUnder(dockerd.dir).length).toBeGreaterThan(0);
      expect(containerProcesses(dockerd).length).toBeGreaterThan(0);
    } finally {
      await dockerd.stop();
    }
    await expectGone(dockerd);
    expect(containerProcesses(dockerd)).toEqual([]);
  });

  it('kills the containers of a dockerd that was itself killed (they would hold our mounts)', async () => {
    const dockerd = await startDockerd();
    try {
      const image = await dockerd.importBusybox('bv-box:orphan');
      await dockerd.docker(['run', '-d', '--network', 'none', image, 'sleep', '600'], {
        reject: true,
      });
      const pid = Number(readFileSync(join(dockerd.dir, 'docker.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(containerProcesses(dockerd).length).toBeGreaterThan(0);
    } finally {
      await dockerd.stop();
    }
    await expectGone(dockerd);
    expect(containerProcesses(dockerd)).toEqual([]);
  });

  it('finds a legacy volume plugin registered with a spec file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-plugin-'));
    const socketPath = join(dir, 'plugin.sock');
    const server = await fakeVolumePlugin(join(dir, 'volumes'), socketPath);
    const dockerd = await startDockerd().catch(async (error: unknown) => {
      server.close();
      await rm(dir, { recursive: true, force: true });
      throw error;
    });
    const plugin = await registerVolumePlugin(uniquePluginName(), socketPath).catch(
      async (error: unknown) => {
        await dockerd.stop();
        server.close();
        await rm(dir, { recursive: true, force: true });
        throw error;
      },
    );
    try {
      expect(readFileSync(plugin.specFile, 'utf8')).toBe(`unix://${socketPath}\n`);
      await expect(registerVolumePlugin(plugin.driver, socketPath)).rejects.toMatchObject({
        code: 'PLUGIN_NAME_TAKEN',
      });
      const image = await dockerd.importBusybox();
      await dockerd.docker(['volume', 'create', '-d', plugin.driver, 'bv-vol'], { reject: true });
      await dockerd.docker(
        [
          'run',
          '--rm',
          '--network',
          'none',
          '-v',
          'bv-vol:/data',
          image,
          'sh',
          '-c',
          'echo via-plugin > /data/f',
        ],
        { reject: true },
      );
      expect(await readFile(join(dir, 'volumes', 'bv-vol', 'f'), 'utf8')).toBe('via-plugin\n');
      const listed = await dockerd.docker(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'], {
        reject: true,
      });
      expect(listed.stdout).toContain(`${plugin.driver} bv-vol`);
    } finally {
      await plugin.unregister();
      await dockerd.stop();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
    expect(existsSync(plugin.specFile)).toBe(false);
    await expectGone(dockerd);
  });

  it('refuses plugin names that are not plain file names', async () => {
    for (const bad of ['../etc', 'Upper', '-flag', 'a/b', '']) {
      await expect(registerVolumePlugin(bad, '/nonexistent.sock')).rejects.toMatchObject({
        code: 'PLUGIN_NAME_INVALID',
      });
    }
  });
});
