import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  access,
  chmod,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { atExit, cleanupSteps, tryKill, trySync } from './cleanup.js';
import { attachLoop, detachLoop } from './loop-device.js';

/**
 * The machinery behind host B and the swarm nodes: a network namespace, a long-lived process
 * holding a private mount (and optionally UTS) namespace in it, fresh loop btrfs filesystems
 * mounted there at given paths, and an sshd inside. Internal to test-utils.
 */
export interface NamespaceHost {
  address: string;
  sshPort: number;
  /** Private key authorized for root on this host. */
  identityFile: string;
  /** known_hosts file holding this host's key for `[address]:sshPort`. */
  knownHostsFile: string;
  /** This host's known_hosts line (`[address]:port type key`). */
  knownHostsLine: string;
  /** sshd's AuthorizedKeysFile (re-read at every login). */
  authorizedKeysFile: string;
  paths: string[];
  netns: string;
  /** Private temp dir of this host (removed by cleanup). */
  dir: string;
  /** Pid of the namespace holder: `nsenter -t pid` enters this host. */
  holderPid: number;
  /** The `nsenter` arguments that run `argv` inside this host's namespaces. */
  nsenterArgs(argv: readonly string[]): string[];
  exec(argv: readonly string[], options?: NsExecOptions): Promise<NsExecResult>;
  stopSsh(options?: { keepSessions?: boolean }): Promise<void>;
  startSsh(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface NsExecOptions {
  /** Throw when the command exits non-zero (default true). */
  reject?: boolean;
  /** Written to the command's stdin. */
  input?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export interface NsExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** How the host is wired: a veth to this (root) namespace, or a port on a bridge in another. */
export type NamespaceLink =
  | { kind: 'root'; localAddress: string; address: string }
  | { kind: 'bridge'; netns: string; bridge: string; address: string; prefix: number };

export interface NamespaceHostOptions {
  /** Short unique label for the netns, veth and image names (e.g. `b-1a2b3c4d`). */
  label: string;
  paths: readonly string[];
  sizeMiB: number;
  link: NamespaceLink;
  /** Own UTS namespace with this hostname. */
  hostname?: string;
  /** Fresh tmpfs mounted at these paths inside (e.g. `/run`, `/etc/docker`). */
  tmpfs?: readonly string[];
  sshPort: number;
  /** An existing private key to authorize; by default one is generated in the host's dir. */
  identityFile?: string;
  /** Prefix of the temp dir's name (default `bv-<label>-`). */
  dirPrefix?: string;
}

/** The little we need of a running execa subprocess (its option-specific type is unwieldy). */
interface Child extends PromiseLike<unknown> {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
}
const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself unless started by absolute path

interface Resources {
  dir: string;
  netns?: string | undefined;
  veth?: string | undefined;
  holderPid?: number | undefined;
  mounted: string[];
  devices: { device: string; image: string }[];
}

// Hosts still alive, so a worker that exits without its afterAll does not leave
// namespaces, veths, loop devices or sshd processes behind on the machine.
const live = new Set<Resources>();

function removeLive(): void {
  for (const res of live) {
    if (res.netns) for (const pid of netnsPidsSync(res.netns)) tryKill(pid, 'SIGKILL');
    if (res.holderPid !== undefined) tryKill(res.holderPid, 'SIGKILL');
    for (const { device } of res.devices) trySync('losetup', ['-d', device]);
    if (res.veth) trySync('ip', ['link', 'del', res.veth]);
    if (res.netns) trySync('ip', ['netns', 'del', res.netns]);
    trySync('rm', ['-rf', '--', res.dir]);
  }
}

/** An ed25519 key pair without a passphrase: `file` and `file.pub`. */
export async function makeKeyPair(file: string, comment: string): Promise<void> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

export function netnsPidsSync(netns: string): number[] {
  try {
    return parsePids(execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }));
  } catch {
    return [];
  }
}

export async function netnsPids(netns: string): Promise<number[]> {
  const result = await execa('ip', ['netns', 'pids', netns], { reject: false });
  return result.exitCode === 0 ? parsePids(result.stdout) : [];
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((line) => Number.parseInt(line.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitGone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
}

/** Creates a namespace host. Always pair with `cleanup()` in a finally/afterAll. */
export async function createNamespaceHost(options: NamespaceHostOptions): Promise<NamespaceHost> {
  const { label, sizeMiB, link, sshPort } = options;
  const paths = [...options.paths];
  if (paths.length === 0 || paths.some((p) => !isAbsolute(p))) {
    throw new TypeError(`namespace host: paths must be a non-empty list of absolute paths`);
  }
  const dir = await realpath(await mkdtemp(join(tmpdir(), options.dirPrefix ?? `bv-${label}-`)));
  const res: Resources = { dir, mounted: [], devices: [] };
  live.add(res);
  atExit(removeLive);

  let sshd: Child | undefined;
  let sshdStderr = '';
  let holder: Child | undefined;
  const address = link.address;

  const nsenterArgs = (argv: readonly string[]): string[] => {
    if (res.holderPid === undefined) throw new Error(`host ${label} is not running`);
    const uts = options.hostname !== undefined ? ['-u'] : [];
    return ['-t', String(res.holderPid), '-m', '-n', ...uts, '--', ...argv];
  };

  const exec = async (
    argv: readonly string[],
    execOptions: NsExecOptions = {},
  ): Promise<NsExecResult> => {
    const result = await execa('nsenter', nsenterArgs(argv), {
      reject: execOptions.reject ?? true,
      ...(execOptions.input !== undefined ? { input: execOptions.input } : {}),
      ...(execOptions.env !== undefined ? { env: execOptions.env } : {}),
    });
    return {
      stdout: String(result.stdout),
      stderr: String(result.stderr),
      exitCode: result.exitCode ?? -1,
    };
  };

  const identityFile = options.identityFile ?? join(dir, 'id_ed25519');
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const knownHostsFile = join(dir, 'known_hosts');
  const authorizedKeys = join(dir, 'authorized_keys');
  const sshdConfig = join(dir, 'sshd_config');

  const startSsh = async (): Promise<void> => {
    if (sshd !== undefined && sshd.exitCode === null) return;
    sshdStderr = '';
    // -D: stay in the foreground so we own the listener's pid; -e: log to stderr for errors.
    const child = execa('nsenter', nsenterArgs([SSHD, '-D', '-e', '-f', sshdConfig]), {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      sshdStderr = (sshdStderr + chunk.toString()).slice(-4000);
    });
    sshd = child;
    await waitForPort(exec, address, sshPort, child, () => sshdStderr);
  };

  const stopSsh = async (stopOptions: { keepSessions?: boolean } = {}): Promise<void> => {
    const listener = sshd;
    sshd = undefined;
    const pids: number[] = [];
    if (listener?.pid !== undefined) {
      tryKill(listener.pid, 'SIGTERM');
      pids.push(listener.pid);
    }
    if (!stopOptions.keepSessions && res.netns) {
      // Sessions are sshd processes forked by the listener; they outlive it unless killed.
      for (const pid of await netnsPids(res.netns)) {
        if (pid === res.holderPid) continue;
        const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
        if (comm.trim() === 'sshd') {
          tryKill(pid, 'SIGKILL');
          pids.push(pid);
        }
      }
    }
    await listener;
    await waitGone(pids);
  };

  let cleaning: Promise<void> | undefined;
  const teardown = async (): Promise<void> => {
    const { step, finish } = cleanupSteps();
    await step(() => stopSsh());
    // Anything else still running inside (a receive, a daemon) would keep mounts busy.
    if (res.netns) {
      const others = (await netnsPids(res.netns)).filter((pid) => pid !== res.holderPid);
      for (const pid of others) tryKill(pid, 'SIGKILL');
      await waitGone(others);
    }
    for (const path of [...res.mounted].reverse()) {
      await step(() => unmountIn(exec, path));
    }
    res.mounted = [];
    if (res.holderPid !== undefined) {
      const pid = res.holderPid;
      tryKill(pid, 'SIGKILL');
      await holder;
      await waitGone([pid]);
      res.holderPid = undefined;
    }
    for (const { device, image } of res.devices) await step(() => detachLoop(device, image));
    res.devices = [];
    if (res.veth) {
      const veth = res.veth;
      await step(() => execa('ip', ['link', 'del', veth], { reject: false }));
      res.veth = undefined;
    }
    if (res.netns) {
      const netns = res.netns;
      await step(() => execa('ip', ['netns', 'del', netns]));
      res.netns = undefined;
    }
    await step(() => rm(dir, { recursive: true, force: true }));
    live.delete(res);
    finish(`host ${label}`);
  };

  try {
    const netns = `bv-${label}`;
    await execa('ip', ['netns', 'add', netns]);
    res.netns = netns;
    const inNetns = (args: string[]) => execa('ip', ['-n', netns, ...args]);
    // veth names are limited to 15 characters.
    const outer = `v${label}`.slice(0, 15);
    const inner = `w${label}`.slice(0, 15);
    if (link.kind === 'root') {
      await execa('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
      res.veth = outer;
      await execa('ip', ['link', 'set', inner, 'netns', netns]);
      await execa('ip', ['addr', 'add', `${link.localAddress}/30`, 'dev', outer]);
      await execa('ip', ['link', 'set', outer, 'up']);
      await inNetns(['addr', 'add', `${address}/30`, 'dev', inner]);
    } else {
      // Both ends are made inside namespaces, so nothing is left in this one.
      await inNetns(['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer]);
      await inNetns(['link', 'set', outer, 'netns', link.netns]);
      const inBridge = (args: string[]) => execa('ip', ['-n', link.netns, ...args]);
      await inBridge(['link', 'set', outer, 'master', link.bridge]);
      await inBridge(['link', 'set', outer, 'up']);
      await inNetns(['addr', 'add', `${address}/${link.prefix}`, 'dev', inner]);
    }
    await inNetns(['link', 'set', inner, 'up']);
    await inNetns(['link', 'set', 'lo', 'up']);

    // Mounts: a long-lived process in the netns holding a private copy of the mount table.
    // unshare without --fork execs the holder, so the pid execa reports is inside both.
    const uts = options.hostname !== undefined ? ['--uts'] : [];
    const holderProcess = execa(
      'nsenter',
      [
        `--net=/run/netns/${netns}`,
        'unshare',
        '--mount',
        ...uts,
        '--propagation',
        'private',
        '--',
        'sleep',
        'infinity',
      ],
      { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' },
    );
    holder = holderProcess;
    const holderPid = holderProcess.pid;
    if (holderPid === undefined)
      throw new Error(`could not start host ${label}'s namespace holder`);
    res.holderPid = holderPid;
    await waitForOwnMountNamespace(holderPid);
    // The copied mount table still references this host's (and other tests') loop
    // filesystems; drop them inside so it neither sees their data nor keeps devices busy.
    await unmountForeignLoopMounts(exec, holderPid);
    if (options.hostname !== undefined) await exec(['hostname', options.hostname]);
    for (const path of options.tmpfs ?? []) {
      await exec(['mkdir', '-p', '--', path]);
      await exec(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', path]);
    }

    // sshd runs every command through the user's shell, and bash started by sshd reads
    // ~/.bashrc: on a developer's machine that may do anything (pyenv's rehash waits up to 60 s
    // on a lock that a session killed mid-way, as sshd-kill tests do, leaves behind). B is a
    // clean host: its root gets an empty one.
    const bashrc = join(userInfo().homedir, '.bashrc');
    if (
      await access(bashrc).then(
        () => true,
        () => false,
      )
    ) {
      await exec(['mount', '--bind', '/dev/null', bashrc]);
    }

    for (const [index, path] of paths.entries()) {
      const image = join(dir, `bv-${label}-${index}.img`);
      await writeFile(image, '');
      await truncate(image, sizeMiB * 1024 * 1024);
      await execa('mkfs.btrfs', ['-q', '-f', '-L', `bv-${label}-${index}`.slice(0, 255), image]);
      const device = await attachLoop(image);
      res.devices.push({ device, image });
      await exec(['mkdir', '-p', '--', path]);
      await exec(['mount', '-t', 'btrfs', '--', device, path]);
      res.mounted.push(path);
    }

    // ssh: keys, a config that trusts only the given key, then sshd inside.
    await makeKeyPair(hostKey, `bv-${label}`);
    if (options.identityFile === undefined) await makeKeyPair(identityFile, 'bv-a');
    await writeFile(authorizedKeys, await readFile(`${identityFile}.pub`));
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ');
    await writeFile(knownHostsFile, `[${address}]:${sshPort} ${hostPub[0]} ${hostPub[1]}\n`);
    await writeFile(
      sshdConfig,
      [
        `ListenAddress ${address}:${sshPort}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'UseDNS no',
        'StrictModes no',
        'MaxStartups 100',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    await chmod(sshdConfig, 0o600);
    // sshd's privilege-separation directory (inside: /run may be the host's own tmpfs).
    await exec(['mkdir', '-p', '-m', '0755', '--', '/run/sshd']);
    await startSsh();
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }

  const knownHostsLine = (await readFile(knownHostsFile, 'utf8')).trim();
  return {
    address,
    sshPort,
    identityFile,
    knownHostsFile,
    knownHostsLine,
    authorizedKeysFile: authorizedKeys,
    paths,
    netns: res.netns!,
    dir,
    holderPid: res.holderPid!,
    nsenterArgs,
    exec,
    stopSsh,
    startSsh,
    cleanup() {
      cleaning ??= teardown();
      return cleaning;
    },
  };
}

/** Standard ssh arguments (`-F none -p … -i … -o …`) reaching root on a namespace host. */
export function sshArgs(options: {
  port: number;
  identityFile: string;
  knownHostsFile: string;
}): string[] {
  return [
    '-F',
    'none',
    '-p',
    String(options.port),
    '-i',
    options.identityFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${options.knownHostsFile}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
  ];
}

/** A random 10.64.0.0/10 subnet of the given prefix length that overlaps nothing here. */
export async function pickSubnet(prefix: number): Promise<{ base: number; hosts: string[] }> {
  const { stdout: addrs } = await execa('ip', ['-o', '-4', 'addr', 'show']);
  const { stdout: routes } = await execa('ip', ['-4', 'route', 'show', 'table', 'all']);
  const taken: { base: number; mask: number }[] = [];
  for (const match of `${addrs}\n${routes}`.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const bits = match[2] === undefined ? 32 : Number(match[2]);
    taken.push({ base: (toInt(match[1]!) & maskOf(bits)) >>> 0, mask: maskOf(bits) });
  }
  const size = 2 ** (32 - prefix);
  const ownMask = maskOf(prefix);
  for (let attempt = 0; attempt < 100; attempt++) {
    // A corner of 10/8 rarely used by hand.
    const base = (((10 << 24) | (64 << 16)) + randomInt(0, (1 << 22) / size) * size) >>> 0;
    const overlaps = taken.some(
      (t) => (base & t.mask) >>> 0 === t.base || (t.base & ownMask) >>> 0 === base,
    );
    if (!overlaps) {
      const hosts = Array.from({ length: size - 2 }, (_, i) => toDotted(base + i + 1));
      return { base, hosts };
    }
  }
  throw new Error(`could not find a free 10.x /${prefix}`);
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

function toInt(dotted: string): number {
  return dotted.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function toDotted(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

async function waitForOwnMountNamespace(pid: number): Promise<void> {
  const ours = await readlinkSafe('/proc/self/ns/mnt');
  for (let attempt = 0; attempt < 200; attempt++) {
    const exe = await readlinkSafe(`/proc/${pid}/exe`);
    const ns = await readlinkSafe(`/proc/${pid}/ns/mnt`);
    // Wait until nsenter and unshare have exec'd into sleep, i.e. the namespace is final.
    if (exe?.endsWith('/sleep') && ns !== undefined && ns !== ours) return;
    if (!isAlive(pid)) break;
    await sleep(10);
  }
  throw new Error(`namespace holder (pid ${pid}) did not start`);
}

async function readlinkSafe(path: string): Promise<string | undefined> {
  return readlink(path).catch(() => undefined);
}

type Exec = (argv: readonly string[], options?: NsExecOptions) => Promise<NsExecResult>;

async function unmountForeignLoopMounts(exec: Exec, holderPid: number): Promise<void> {
  // findmnt reads the process' mountinfo and answers JSON, unescaped.
  const { stdout } = await execa('findmnt', [
    '--task',
    String(holderPid),
    '--list',
    '--json',
    '-o',
    'TARGET,SOURCE',
  ]);
  const { filesystems } = JSON.parse(stdout) as {
    filesystems: { target: string; source: string | null }[];
  };
  const targets = filesystems
    .filter((mount) => mount.source?.startsWith('/dev/loop'))
    .map((mount) => mount.target);
  // Deepest first, lazily: nothing runs inside yet, so nothing can be busy there.
  for (const target of targets.sort((x, y) => y.length - x.length)) {
    await exec(['umount', '-l', '--', target], { reject: false });
  }
}

async function unmountIn(exec: Exec, path: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await exec(['umount', '--', path], { reject: false });
    if (result.exitCode === 0 || /not mounted|no mount point/i.test(result.stderr)) return;
    await sleep(100);
  }
  await exec(['umount', '-l', '--', path]);
}

async function waitForPort(
  exec: Exec,
  host: string,
  port: number,
  child: Child,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`sshd on ${host} exited (${child.exitCode}): ${stderr()}`);
    }
    if (await canConnect(exec, host, port)) return;
    await sleep(25);
  }
  throw new Error(`sshd did not listen on ${host}:${port}: ${stderr()}`);
}

// From inside the host's own namespace: a bridged host is not reachable from this one.
async function canConnect(exec: Exec, host: string, port: number): Promise<boolean> {
  const probe = `require('net').connect(${port},${JSON.stringify(host)}).on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`;
  const result = await exec([process.execPath, '-e', probe], { reject: false });
  return result.exitCode === 0;
}
