import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createLoopBtrfs,
  type Dockerd,
  type LoopBtrfs,
  requireRealEnvironment,
  startDockerd,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGED_PLUGIN_BUILDER, requireBuiltCli } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox', 'debootstrap', 'pnpm']);

// The Docker managed plugin, built from scratch (debootstrap from Debian's mirror + the built
// app, no image pulled) and installed into a private dockerd whose data root is on btrfs.
// No mirror means a loud failure: the build's output is in the error.
let fs: LoopBtrfs;
let dockerd: Dockerd | undefined;
const plugin = `bv-e2e-${randomBytes(4).toString('hex')}/buttervolume:latest`;
const timings: Record<string, number> = {};

beforeAll(async () => {
  requireBuiltCli();
  fs = await createLoopBtrfs({ sizeMiB: 4096 });
  // startDockerd makes its private dir (data root, exec root, sockets) under os.tmpdir(), so
  // pointing TMPDIR at the btrfs puts docker's plugin dirs, PropagatedMount included, on it.
  const previousTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = fs.mountPoint;
  try {
    dockerd = await startDockerd();
  } finally {
    if (previousTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmpdir;
  }
}, 300_000);

afterAll(async () => {
  try {
    if (dockerd !== undefined) {
      await dockerd.docker(['plugin', 'disable', '--force', plugin]);
      await dockerd.docker(['plugin', 'rm', '--force', plugin]);
      await dockerd.stop();
    }
  } finally {
    await fs?.cleanup();
  }
}, 300_000);

async function time<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - started);
  }
}

async function dockerOk(args: readonly string[]): Promise<string> {
  const result = await dockerd!.docker(args);
  if (result.exitCode !== 0) {
    throw new Error(
      `docker ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}\n--- dockerd log ---\n${(await dockerd!.logs()).split('\n').slice(-30).join('\n')}`,
    );
  }
  return result.stdout.trim();
}

describe('the managed plugin', () => {
  it('builds, installs, enables, and serves volumes to containers', async () => {
    const out = join(fs.mountPoint, 'plugin-build');
    const build = await time('build+create', () =>
      execa(
        process.execPath,
        [MANAGED_PLUGIN_BUILDER, '--out', out, '--create', plugin, '--docker-host', dockerd!.host],
        { all: true, reject: false },
      ),
    );
    if (build.exitCode !== 0) {
      throw new Error(
        `build.mjs exited ${build.exitCode}:\n${String(build.all).split('\n').slice(-60).join('\n')}`,
      );
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
      interface: { socket: string };
      propagatedMount: string;
    };
    expect(config.interface.socket).toBe('btrfs.sock');
    expect(config.propagatedMount).toBe('/var/lib/buttervolume');

    // 3.x's layout, on a btrfs of our own instead of the host's /var/lib/buttervolume.
    const data = join(fs.mountPoint, 'bv-data');
    for (const dir of ['volumes', 'snapshots', 'config', 'ssh']) {
      await mkdir(join(data, dir), { recursive: true });
    }
    await dockerOk([
      'plugin',
      'set',
      plugin,
      `data.source=${data}`,
      `config.source=${join(data, 'config')}`,
      `ssh.source=${join(data, 'ssh')}`,
      'BUTTERVOLUME_LOGLEVEL=DEBUG',
    ]);
    await time('enable', () => dockerOk(['plugin', 'enable', plugin]));
    expect(await dockerOk(['plugin', 'inspect', '--format', '{{.Enabled}}', plugin])).toBe('true');

    const image = await dockerd!.importBusybox();
    await time('volume create', () =>
      dockerOk(['volume', 'create', '-d', plugin, '-o', 'copyonwrite=false', 'mpvol']),
    );
    const volume = join(data, 'volumes', 'mpvol');
    expect((await stat(volume)).ino).toBe(256);
    const { stdout: attrs } = await execa('lsattr', ['-d', '--', volume]);
    expect(attrs.split(/\s+/)[0]).toContain('C');

    await time('run -v', () =>
      dockerOk([
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        'mpvol:/data',
        image,
        'sh',
        '-c',
        'echo hi > /data/f',
      ]),
    );
    expect(await readFile(join(volume, 'f'), 'utf8')).toBe('hi\n');
    expect(
      await dockerOk([
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        'mpvol:/data',
        image,
        'cat',
        '/data/f',
      ]),
    ).toBe('hi');
    const ls = await dockerOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
    expect(ls.split('\n')).toContain(`${plugin} mpvol`);

    await dockerOk(['volume', 'rm', 'mpvol']);
    await expect(stat(volume)).rejects.toMatchObject({ code: 'ENOENT' });
    console.log(`managed plugin timings (ms): ${JSON.stringify(timings)}`);
  });
});
