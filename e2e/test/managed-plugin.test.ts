import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createLoopBtrfs,
  type Dockerd,
  type LoopBtrfs,
  requireRealEnvironment,
  startDockerd,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, MANAGED_PLUGIN_BUILDER, requireBuiltCli } from '../src/index.js';

requireRealEnvironment([
  'dockerd',
  'containerd',
  'btrfs',
  'busybox',
  'debootstrap',
  'pnpm',
  'ssh',
  'ssh-keygen',
]);

// The Docker managed plugin, built from scratch (debootstrap from Debian's mirror + the built
// app, no image pulled) and installed into a private dockerd whose data root is on btrfs.
// No mirror means a loud failure: the build's output is in the error.
let fs: LoopBtrfs;
let source: LoopBtrfs | undefined;
let dockerd: Dockerd | undefined;
let scratch: string | undefined;
const plugin = `bv-e2e-${randomBytes(4).toString('hex')}/buttervolume:latest`;
const timings: Record<string, number> = {};
const ENTRYPOINT = new URL(
  '../../deploy/managed-plugin/rootfs/usr/local/lib/buttervolume/entrypoint.mjs',
  import.meta.url,
);
// What peers run against the plugin, with the paths of its config.json.
const PLUGIN_SNAPSHOTS = '/var/lib/buttervolume/snapshots';
const SSHD_CONFIG = '/usr/local/lib/buttervolume/sshd_config';

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
    try {
      await source?.cleanup();
      if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    } finally {
      await fs?.cleanup();
    }
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

/** A TCP port nothing listens on right now (the plugin's sshd gets the host's network). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) {
      const log = (await dockerd!.logs()).split('\n').slice(-30).join('\n');
      throw new Error(`timed out waiting for ${what}\n--- dockerd log ---\n${log}`);
    }
    await sleep(100);
  }
}

/** Host pids of the plugin's sshd listener on `port` (its process title keeps the arguments). */
function sshdListeners(port: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSyncSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(SSHD_CONFIG) && new RegExp(`-p ${port}( |$)`).test(cmdline)) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

function readdirSyncSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

interface Installed {
  out: string;
  data: string;
  sshPort: number;
  /** The public half of the host key put in place before the first start. */
  keptHostKey: string;
}

let installing: Promise<Installed> | undefined;

/**
 * Builds, creates, configures and enables the plugin once; every test starts from it (the build
 * is the slow part). A failed build fails every test with the build's output.
 */
function installed(): Promise<Installed> {
  installing ??= (async () => {
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
    // 3.x's layout, on a btrfs of our own instead of the host's /var/lib/buttervolume.
    const data = join(fs.mountPoint, 'bv-data');
    for (const dir of ['volumes', 'snapshots', 'config', 'ssh']) {
      await mkdir(join(data, dir), { recursive: true });
    }
    // sshd's StrictModes: root's ssh folder must not be writable by others.
    await chmod(join(data, 'ssh'), 0o700);
    // A host key kept from a 3.x plugin, copied in carelessly readable: used, made 0600. The
    // other types are made by the plugin on its first start.
    const hostKeys = join(data, 'ssh', 'host_keys');
    await mkdir(hostKeys);
    const ed25519 = join(hostKeys, 'ssh_host_ed25519_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'from-3x', '-f', ed25519]);
    await chmod(ed25519, 0o644);
    const keptHostKey = await readFile(`${ed25519}.pub`, 'utf8');
    const sshPort = await freePort();
    await dockerOk([
      'plugin',
      'set',
      plugin,
      `data.source=${data}`,
      `config.source=${join(data, 'config')}`,
      `ssh.source=${join(data, 'ssh')}`,
      'BUTTERVOLUME_LOGLEVEL=DEBUG',
      `SSH_PORT=${sshPort}`,
    ]);
    await time('enable', () => dockerOk(['plugin', 'enable', plugin]));
    return { out, data, sshPort, keptHostKey };
  })();
  return installing;
}

/**
 * The plugin's socket. dockerd 20.10 keeps managed plugins' sockets in /run/docker/plugins/<id>
 * whatever its exec root (a unix socket path must fit in 108 bytes); the id is unique.
 */
async function pluginSocket(): Promise<string> {
  const id = await dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', plugin]);
  const candidates = [
    join('/run/docker/plugins', id, 'btrfs.sock'),
    join(dockerd!.execRoot, 'plugins', id, 'btrfs.sock'),
  ];
  for (const candidate of candidates) {
    if ((await stat(candidate).catch(() => undefined))?.isSocket()) return candidate;
  }
  throw new Error(`the plugin's socket is in none of ${candidates.join(', ')}`);
}

async function cli(args: readonly string[]) {
  return execa(process.execPath, [CLI_BIN, ...args], {
    reject: false,
    env: { BUTTERVOLUME_CONFIG_FILE: '/nonexistent/bv-config.ini' },
  });
}

interface SshKey {
  key: string;
  knownHosts: string;
}

async function sshKey(name: string): Promise<SshKey> {
  scratch ??= await mkdtemp('/tmp/bv-mp-');
  const key = join(scratch, name);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  return { key, knownHosts: join(scratch, `${name}.known_hosts`) };
}

function sshArgs(
  port: number,
  { key, knownHosts }: SshKey,
  strict: 'yes' | 'accept-new',
  command: readonly string[],
): string[] {
  return [
    '-F',
    'none',
    '-p',
    String(port),
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    `StrictHostKeyChecking=${strict}`,
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    // One key type, so the known_hosts line can be compared with the persisted host key.
    '-o',
    'HostKeyAlgorithms=ssh-ed25519',
    'root@127.0.0.1',
    ...command,
  ];
}

const peer: { key?: SshKey } = {};

// debootstrap of a Debian rootfs from the mirror (in the first test) takes about a minute.
describe('the managed plugin', { timeout: 900_000 }, () => {
  it('builds, installs, enables, and serves volumes to containers', async () => {
    const { out, data } = await installed();
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
      interface: { socket: string };
      propagatedMount: string;
      env: { name: string; value: string; settable: string[] }[];
    };
    expect(config.interface.socket).toBe('btrfs.sock');
    expect(config.propagatedMount).toBe('/var/lib/buttervolume');
    // 3.x's sshd port by default, settable with `docker plugin set NAME SSH_PORT=…`.
    expect(config.env.find((e) => e.name === 'SSH_PORT')).toMatchObject({
      value: '1122',
      settable: ['value'],
    });
    expect(await dockerOk(['plugin', 'inspect', '--format', '{{.Enabled}}', plugin])).toBe('true');
    // No host key baked into the image: each installation makes its own.
    const etcSsh = await readdir(join(out, 'rootfs', 'etc', 'ssh'));
    expect(etcSsh.filter((f) => f.startsWith('ssh_host_'))).toEqual([]);

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

    // Replicated volumes are for buttervolume on the host: refused, saying so, nothing made.
    const replicated = await dockerd!.docker([
      'volume',
      'create',
      '-d',
      plugin,
      '-o',
      'replicas=n2,n3',
      'mprep',
    ]);
    expect(replicated.exitCode).not.toBe(0);
    expect(replicated.stderr).toContain('REPLICATED_VOLUMES=false');
    expect(replicated.stderr).toContain('Running on a Docker Swarm');
    await expect(stat(join(data, 'volumes', 'mprep'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('receives a btrfs send over its own sshd, as root with a key and nothing else', async () => {
    const { data, sshPort, keptHostKey } = await installed();
    await waitFor(`the plugin's sshd on port ${sshPort}`, () => accepts(sshPort));
    // The host keys are the plugin's own, kept in its ssh mount, private to root.
    const hostKeys = join(data, 'ssh', 'host_keys');
    for (const type of ['ed25519', 'ecdsa', 'rsa']) {
      const mode = (await stat(join(hostKeys, `ssh_host_${type}_key`))).mode & 0o777;
      expect(mode, type).toBe(0o600);
    }
    expect(await readFile(join(hostKeys, 'ssh_host_ed25519_key.pub'), 'utf8')).toBe(keptHostKey);

    // Added while the plugin runs, as a user would: sshd reads authorized_keys at each login.
    const key = await sshKey('peer');
    peer.key = key;
    await writeFile(join(data, 'ssh', 'authorized_keys'), await readFile(`${key.key}.pub`), {
      mode: 0o600,
    });

    const stranger = await sshKey('stranger');
    const refused = await execa('ssh', sshArgs(sshPort, stranger, 'accept-new', ['true']), {
      reject: false,
    });
    expect(refused.exitCode).toBe(255);
    // sshd names the methods it offers: public key only, no password.
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);

    // A snapshot on another btrfs, as a peer host would have it.
    source = await createLoopBtrfs({ sizeMiB: 512 });
    const volume = join(source.mountPoint, 'rxvol');
    await execa('btrfs', ['subvolume', 'create', '--', volume]);
    const payload = randomBytes(64 * 1024 * 1024);
    await writeFile(join(volume, 'payload'), payload);
    await writeFile(join(volume, 'hello'), 'from a peer\n');
    const name = 'rxvol@2026-01-02T03:04:05.123456';
    const snapshot = join(source.mountPoint, name);
    await execa('btrfs', ['subvolume', 'snapshot', '-r', '--', volume, snapshot]);
    await execa('btrfs', ['filesystem', 'sync', '--', source.mountPoint]);

    const started = performance.now();
    const received = await execa('btrfs', ['send', '-q', '--', snapshot], {
      reject: false,
    }).pipe(
      'ssh',
      sshArgs(sshPort, key, 'accept-new', ['btrfs', 'receive', '--', PLUGIN_SNAPSHOTS]),
      { reject: false },
    );
    const ms = performance.now() - started;
    timings.receive = Math.round(ms);
    timings['receive MB/s'] = Math.round(payload.length / 1e6 / (ms / 1000));
    expect(
      { ssh: received.exitCode, send: received.pipedFrom[0]?.exitCode, err: received.stderr },
      String(received.stderr),
    ).toMatchObject({ ssh: 0, send: 0 });

    // Arrived through the plugin's bind mount, complete and read-only.
    const arrived = join(data, 'snapshots', name);
    expect((await stat(arrived)).ino).toBe(256);
    const { stdout: ro } = await execa('btrfs', ['property', 'get', '-ts', '--', arrived, 'ro']);
    expect(ro.trim()).toBe('ro=true');
    expect(await readFile(join(arrived, 'hello'), 'utf8')).toBe('from a peer\n');
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    expect(digest(await readFile(join(arrived, 'payload')))).toBe(digest(payload));

    // And the plugin lists it, through its own socket.
    const socket = await pluginSocket();
    const listed = await cli(['snapshots', 'rxvol', '--socket', socket]);
    expect(listed.exitCode, String(listed.stderr)).toBe(0);
    expect(String(listed.stdout)).toContain(name);

    // The key sshd presented is the one persisted in the ssh mount.
    const known = (await readFile(key.knownHosts, 'utf8')).trim().split(/\s+/);
    const persisted = (await readFile(join(hostKeys, 'ssh_host_ed25519_key.pub'), 'utf8'))
      .trim()
      .split(/\s+/);
    expect(known.slice(1, 3)).toEqual(persisted.slice(0, 2));
  });

  it('starts sshd again when it dies, and keeps serving volumes meanwhile', async () => {
    const { sshPort } = await installed();
    const key = peer.key;
    if (key === undefined) throw new Error('needs the peer key of the receive test');
    const [listener, ...others] = sshdListeners(sshPort);
    expect(listener, `no sshd with -p ${sshPort} in /proc`).toBeDefined();
    expect(others).toEqual([]);
    process.kill(listener!, 'SIGKILL');
    await waitFor('sshd to be gone', async () => !(await accepts(sshPort)), 5_000);

    // Volumes do not wait for sshd.
    await dockerOk(['volume', 'create', '-d', plugin, 'while-sshd-is-down']);
    await dockerOk(['volume', 'rm', 'while-sshd-is-down']);

    await waitFor('sshd to be started again', () => accepts(sshPort));
    expect(await dockerd!.logs()).toMatch(/sshd exited \(\d+\).*starting it again in 1 s/);
    const again = await execa('ssh', sshArgs(sshPort, key, 'yes', ['true']), { reject: false });
    expect(again.exitCode, String(again.stderr)).toBe(0);
  });

  it('keeps its host key across a disable/enable, and leaves no sshd behind when disabled', async () => {
    const { data, sshPort } = await installed();
    const key = peer.key;
    if (key === undefined) throw new Error('needs the peer key of the receive test');
    const hostKey = await readFile(join(data, 'ssh', 'host_keys', 'ssh_host_ed25519_key'));

    await time('disable', () => dockerOk(['plugin', 'disable', plugin]));
    expect(await accepts(sshPort)).toBe(false);
    expect(sshdListeners(sshPort)).toEqual([]);

    await time('enable again', () => dockerOk(['plugin', 'enable', plugin]));
    await waitFor(`the plugin's sshd on port ${sshPort}`, () => accepts(sshPort));
    // StrictHostKeyChecking=yes against the known_hosts of the first login.
    const again = await execa('ssh', sshArgs(sshPort, key, 'yes', ['true']), { reject: false });
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(await readFile(join(data, 'ssh', 'host_keys', 'ssh_host_ed25519_key'))).toEqual(hostKey);

    await dockerOk(['plugin', 'disable', plugin]);
    expect(await accepts(sshPort)).toBe(false);
    expect(sshdListeners(sshPort)).toEqual([]);
    // Stopped by its entrypoint on docker's SIGTERM, not killed when the grace time ran out.
    expect(await dockerd!.logs()).toMatch(/SIGTERM: stopping buttervolume and sshd/);
    expect(await dockerd!.logs()).not.toMatch(/children still running/);

    // A bad SSH_PORT stops the plugin at start, saying what to set (it reaches no command line).
    await dockerOk(['plugin', 'set', plugin, 'SSH_PORT=22 -oProxyCommand=x']);
    const refused = await time('enable with a bad SSH_PORT', () =>
      dockerd!.docker(['plugin', 'enable', plugin]),
    );
    expect(refused.exitCode).not.toBe(0);
    expect(await dockerd!.logs()).toMatch(/SSH_PORT must be a port number \(1-65535\)/);
    console.log(`managed plugin timings (ms): ${JSON.stringify(timings)}`);
  });
});

describe('the plugin entrypoint', () => {
  it('refuses an SSH_PORT that is not a port number (before starting anything)', async () => {
    const { parseSshPort, DEFAULT_SSH_PORT } = (await import(ENTRYPOINT.href)) as {
      parseSshPort: (env: Record<string, string | undefined>) => number;
      DEFAULT_SSH_PORT: number;
    };
    expect(DEFAULT_SSH_PORT).toBe(1122);
    expect(parseSshPort({})).toBe(1122);
    expect(parseSshPort({ SSH_PORT: '' })).toBe(1122);
    expect(parseSshPort({ SSH_PORT: '2222' })).toBe(2222);
    expect(parseSshPort({ SSH_PORT: '65535' })).toBe(65535);
    for (const bad of [
      '0',
      '65536',
      '-1',
      'abc',
      '22 -oProxyCommand=touch /tmp/p',
      '-p1',
      '$(touch /tmp/p)',
      '0x16',
      '1e3',
      ' 22',
      '22\n',
      '2'.repeat(300),
    ]) {
      expect(() => parseSshPort({ SSH_PORT: bad }), bad).toThrow(
        expect.objectContaining({
          code: 'INVALID_SSH_PORT',
          message: expect.stringMatching(/^SSH_PORT must be a port number \(1-65535\)/),
        }),
      );
    }
  });
});
