import { lstat, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'lsattr', 'busybox']);

// Docker volumes made with our driver, used by containers: the way people actually use it.
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

async function docker(args: readonly string[]) {
  return stack.docker(args);
}

async function isSubvolume(path: string): Promise<boolean> {
  // A btrfs subvolume root always has inode number 256.
  return (await stat(path)).ino === 256;
}

async function attributes(path: string): Promise<string> {
  const { stdout } = await execa('lsattr', ['-d', '--', path]);
  return stdout.split(/\s+/)[0] ?? '';
}

interface InspectedVolume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Status?: Record<string, unknown>;
}

async function inspect(volume: string): Promise<InspectedVolume> {
  const [first] = JSON.parse(
    await stack.dockerOk(['volume', 'inspect', volume]),
  ) as InspectedVolume[];
  if (first === undefined) throw new Error(`docker volume inspect ${volume} printed nothing`);
  return first;
}

describe("docker's plugin client", () => {
  it('gets an answer with the socket path as Host header, as dockerd sends it', async () => {
    // dockerd's legacy plugin client sets Host to the socket path (pkg/plugins/client.go).
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          socketPath: stack.socketPath,
          path: '/Plugin.Activate',
          method: 'POST',
          headers: { Host: stack.socketPath, Accept: 'application/vnd.docker.plugins.v1.2+json' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer).toEqual({ status: 200, body: expect.stringContaining('VolumeDriver') });
  });
});

describe('docker volume create with the buttervolume driver', () => {
  it('creates a copy-on-write subvolume named after the volume', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'plain']);
    const path = join(stack.volumesPath, 'plain');
    expect(await isSubvolume(path)).toBe(true);
    expect(await attributes(path)).not.toContain('C');
  });

  it('sets No_COW (chattr +C) on the subvolume with -o copyonwrite=false', async () => {
    await stack.dockerOk([
      'volume',
      'create',
      '-d',
      stack.driver,
      '-o',
      'copyonwrite=false',
      'nocow',
    ]);
    const path = join(stack.volumesPath, 'nocow');
    expect(await isSubvolume(path)).toBe(true);
    expect(await attributes(path)).toContain('C');
    // Files created inside inherit it: that is what databases want.
    await stack.dockerOk(stack.runArgs('nocow', 'echo x > /data/db'));
    expect(await attributes(join(path, 'db'))).toContain('C');
  });

  it('enforces -o size=… inside the container: a write past the quota fails', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, '-o', 'size=20M', 'small']);
    await stack.dockerOk(
      stack.runArgs('small', 'dd if=/dev/zero of=/data/ok bs=1M count=5 conv=fsync'),
    );
    const tooBig = await docker(
      stack.runArgs('small', 'dd if=/dev/zero of=/data/big bs=1M count=60 conv=fsync && sync'),
    );
    expect(tooBig.exitCode).not.toBe(0);
    expect(tooBig.stderr).toMatch(/quota|space/i);
    const status = (await inspect('small')).Status;
    expect(status?.QuotaBytes).toBe(20 * 1024 * 1024);
  });

  it('starts a volume with -o from=<volume> as a copy of that volume', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'template']);
    await stack.dockerOk(stack.runArgs('template', 'echo seed > /data/seed'));
    await stack.dockerOk([
      'volume',
      'create',
      '-d',
      stack.driver,
      '-o',
      'from=template',
      'fromvol',
    ]);
    expect(await stack.dockerOk(stack.runArgs('fromvol', 'cat /data/seed'))).toBe('seed');
    // A copy, not a link: changing it leaves the template alone.
    await stack.dockerOk(stack.runArgs('fromvol', 'echo changed > /data/seed'));
    expect(await stack.dockerOk(stack.runArgs('template', 'cat /data/seed'))).toBe('seed');
  });

  it('starts a volume with -o from=<snapshot> with the snapshot data', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'snapsrc']);
    await stack.dockerOk(stack.runArgs('snapsrc', 'echo before > /data/f'));
    const snap = await stack.cli(['snapshot', 'snapsrc']);
    expect(snap.stderr).toBe('');
    expect(snap.exitCode).toBe(0);
    const snapshot = snap.stdout.trim();
    expect(snapshot).toMatch(/^snapsrc@\d{4}-\d\d-\d\dT/);
    await stack.dockerOk(stack.runArgs('snapsrc', 'echo after > /data/f'));
    await stack.dockerOk([
      'volume',
      'create',
      '-d',
      stack.driver,
      '-o',
      `from=${snapshot}`,
      'fromsnap',
    ]);
    expect(await stack.dockerOk(stack.runArgs('fromsnap', 'cat /data/f'))).toBe('before');
    expect(await isSubvolume(join(stack.volumesPath, 'fromsnap'))).toBe(true);
  });

  it.each([
    [['-o', 'bogus=1'], /bogus.*valid options.*copyonwrite/],
    [['-o', 'copyonwrite=maybe'], /copyonwrite/],
    [['-o', 'size=lots'], /size/],
    [['-o', 'from=no-such-volume'], /no-such-volume/],
  ])(
    'refuses %j with the daemon error shown by docker, creating nothing',
    async (opts, message) => {
      const before = await stack.listing();
      const result = await docker(['volume', 'create', '-d', stack.driver, ...opts, 'refused']);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(await stack.listing()).toEqual(before);
      expect((await docker(['volume', 'inspect', 'refused'])).exitCode).not.toBe(0);
    },
  );
});

describe('containers using the volume', () => {
  it('writes through docker run -v into <VOLUMES_PATH>/<volume>', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'v1']);
    await stack.dockerOk(stack.runArgs('v1', 'echo hello > /data/f'));
    expect(await readFile(join(stack.volumesPath, 'v1', 'f'), 'utf8')).toBe('hello\n');
    expect(await isSubvolume(join(stack.volumesPath, 'v1'))).toBe(true);
  });

  it('creates the volume on first use with --mount …,volume-driver=…,volume-opt=…', async () => {
    await stack.dockerOk([
      'run',
      '--rm',
      '--network',
      'none',
      '--mount',
      `type=volume,source=v2,target=/data,volume-driver=${stack.driver},volume-opt=copyonwrite=false`,
      stack.image,
      'sh',
      '-c',
      'echo mounted > /data/m',
    ]);
    const path = join(stack.volumesPath, 'v2');
    expect(await isSubvolume(path)).toBe(true);
    expect(await attributes(path)).toContain('C');
    expect(await readFile(join(path, 'm'), 'utf8')).toBe('mounted\n');
    expect((await inspect('v2')).Driver).toBe(stack.driver);
  });

  it('lists the volume in docker volume ls and shows our Status in docker volume inspect', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'listed']);
    const ls = await stack.dockerOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
    expect(ls.split('\n')).toContain(`${stack.driver} listed`);
    const snap = await stack.cli(['snapshot', 'listed']);
    expect(snap.exitCode).toBe(0);

    const volume = await inspect('listed');
    expect(volume.Name).toBe('listed');
    expect(volume.Driver).toBe(stack.driver);
    expect(volume.Mountpoint).toBe(join(stack.volumesPath, 'listed'));
    expect(Number.isNaN(Date.parse(volume.CreatedAt))).toBe(false);
    expect(volume.Status).toMatchObject({ CopyOnWrite: true, Snapshots: 1 });
    expect(typeof volume.Status?.CreatedAt).toBe('string');
  });

  it('lists volumes created behind docker’s back (by the CLI) too', async () => {
    const clone = await stack.cli(['clone', 'v1', 'cloned']);
    expect(clone.exitCode, clone.stderr).toBe(0);
    const ls = await stack.dockerOk(['volume', 'ls', '--format', '{{.Name}}']);
    expect(ls.split('\n')).toContain('cloned');
  });
});

describe('docker volume rm', () => {
  it('is refused by docker while a container uses the volume, and works after', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'gone']);
    const container = await stack.dockerOk([
      'run',
      '-d',
      '--network',
      'none',
      '-v',
      'gone:/data',
      stack.image,
      'sleep',
      '600',
    ]);
    try {
      const refused = await docker(['volume', 'rm', 'gone']);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/in use/);
      expect(await isSubvolume(join(stack.volumesPath, 'gone'))).toBe(true);
    } finally {
      await stack.dockerOk(['rm', '-f', container]);
    }
    await stack.dockerOk(['volume', 'rm', 'gone']);
    await expect(lstat(join(stack.volumesPath, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await stack.dockerOk(['volume', 'ls', '-q'])).not.toMatch(/^gone$/m);
  });
});
