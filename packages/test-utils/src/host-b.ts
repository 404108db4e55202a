import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/**
 * A second host for replication tests: its own network namespace (reached from this host over
 * a veth pair on a private /30), its own mount namespace in which fresh loop btrfs filesystems
 * are mounted at the very paths host A uses, and its own sshd accepting a generated root key.
 */
export interface HostB {
  /** B's IPv4 address on the veth (what ssh from A connects to). */
  address: string;
  /** A's IPv4 address on the same /30. */
  localAddress: string;
  /** Port sshd listens on inside B. */
  sshPort: number;
  /** Private key authorized for root on B. */
  identityFile: string;
  /** known_hosts file holding B's host key for `[address]:sshPort`. */
  knownHostsFile: string;
  /** Ready-made ssh arguments (`-F none -p … -i … -o …`) to reach B as root from A. */
  sshOptions: string[];
  /** The same settings as named fields, in the shape @buttervolume/replication's SshOptions takes. */
  ssh: HostBSsh;
  /** The paths B mounted its own btrfs on (as passed in). */
  paths: string[];
  /** Network namespace name (`ip netns`). */
  netns: string;
  /** Runs a command inside B's network and mount namespaces (nsenter, no shell). */
  exec(argv: readonly string[], options?: HostBExecOptions): Promise<HostBExecResult>;
  /** Stops sshd; by default also kills the sessions it is serving (B "goes away"). */
  stopSsh(options?: { keepSessions?: boolean }): Promise<void>;
  /** Starts sshd again (no-op when running) and waits until it accepts connections. */
  startSsh(): Promise<void>;
  /** `btrfs subvolume show` on B as `{ "UUID": …, "Parent UUID": … }`; undefined when nothing is there. */
  showSubvolume(path: string): Promise<Record<string, string> | undefined>;
  /** Fills B's filesystem at `path` (default: the first path) until ENOSPC; returns the filler file. */
  fillDisk(path?: string): Promise<string>;
  /** Kills B's processes, unmounts, detaches loops, deletes veth and netns, removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface HostBSsh {
  port: number;
  identityFile: string;
  knownHostsFile: string;
  strictHostKeyChecking: 'yes';
  configFile: 'none';
}

export interface HostBOptions {
  /** Absolute paths on which B mounts its own fresh btrfs (the same paths host A uses). */
  paths: readonly string[];
  /** Size of each of B's btrfs images in MiB (default 512, minimum 109). */
  sizeMiB?: number;
}

export interface HostBExecOptions {
  /** Throw when the command exits non-zero (default true). */
  reject?: boolean;
  /** Written to the command's stdin. */
  input?: string;
}

export interface HostBExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_SIZE_MIB = 512;

/** The little we need of a running execa subprocess (its option-specific type is unwieldy). */
interface Child extends PromiseLike<unknown> {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
}
const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself unless started by absolute path

interface Resources {
  dir: string;
  netns?: string | undefined;
  vethA?: string | undefined;
  holderPid?: number | undefined;
  mounted: string[];
  devices: { device: string; image: string }[];
}

// Fixtures still alive, so a worker that exits without its afterAll does not leave
// namespaces, veths, loop devices or sshd processes behind on the machine.
const live = new Set<Resources>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const res of live) {
      // Only synchronous work is possible in 'exit'.
      if (res.netns) for (const pid of netnsPidsSync(res.netns)) tryKill(pid, 'SIGKILL');
      if (res.holderPid !== undefined) tryKill(res.holderPid, 'SIGKILL');
      for (const { device } of res.devices) trySync('losetup', ['-d', device]);
      if (res.vethA) trySync('ip', ['link', 'del', res.vethA]);
      if (res.netns) trySync('ip', ['netns', 'del', res.netns]);
      trySync('rm', ['-rf', '--', res.dir]);
    }
  });
}

function trySync(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
  } catch {
    // Best effort: the process is going away anyway.
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function netnsPidsSync(netns: string): number[] {
  try {
    return parsePids(execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }));
  } catch {
    return [];
  }
}

async function netnsPids(netns: string): Promise<number[]> {
  const result = await execa('ip', ['netns', 'pids', netns], { reject: false });
  return result.exitCode === 0 ? parsePids(result.stdout) : [];
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((line) => Number.parseInt(line.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
}

/** Creates host B. Always pair with `cleanup()` in a finally/afterAll. */
export async function createHostB(options: HostBOptions): Promise<HostB> {
  const sizeMiB = options.sizeMiB ?? DEFAULT_SIZE_MIB;
  const paths = [...options.paths];
  if (paths.length === 0 || paths.some((p) => !isAbsolute(p))) {
    throw new TypeError(`createHostB: paths must be a non-empty list of absolute paths`);
  }
  const suffix = randomBytes(4).toString('hex');
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'bv-hostb-')));
  const res: Resources = { dir, mounted: [], devices: [] };
  live.add(res);
  installExitHook();

  let sshd: Child | undefined;
  let sshdStderr = '';
  let holder: Child | undefined;

  const nsenter = (argv: readonly string[]): string[] => {
    if (res.holderPid === undefined) throw new Error('host B is not running');
    return ['-t', String(res.holderPid), '-m', '-n', '--', ...argv];
  };

  const exec = async (
    argv: readonly string[],
    execOptions: HostBExecOptions = {},
  ): Promise<HostBExecResult> => {
    const result = await execa('nsenter', nsenter(argv), {
      reject: execOptions.reject ?? true,
      ...(execOptions.input !== undefined ? { input: execOptions.input } : {}),
    });
    return {
      stdout: String(result.stdout),
      stderr: String(result.stderr),
      exitCode: result.exitCode ?? -1,
    };
  };

  const net = await pickSubnet();
  const address = net.b;
  const localAddress = net.a;
  const sshPort = randomInt(20_000, 30_000);
  const identityFile = join(dir, 'id_ed25519');
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const knownHostsFile = join(dir, 'known_hosts');
  const authorizedKeys = join(dir, 'authorized_keys');
  const sshdConfig = join(dir, 'sshd_config');

  const startSsh = async (): Promise<void> => {
    if (sshd !== undefined && sshd.exitCode === null) return;
    sshdStderr = '';
    // -D: stay in the foreground so we own the listener's pid; -e: log to stderr for errors.
    const child = execa('nsenter', nsenter([SSHD, '-D', '-e', '-f', sshdConfig]), {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      sshdStderr = (sshdStderr + chunk.toString()).slice(-4000);
    });
    sshd = child;
    await waitForPort(address, sshPort, child, () => sshdStderr);
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

  const fillDisk = async (path: string = paths[0]!): Promise<string> => {
    if (!paths.includes(path)) throw new Error(`fillDisk: ${path} is not one of B's paths`);
    const filler = join(path, `bv-fill-${randomBytes(4).toString('hex')}`);
    // dd stops with ENOSPC, which is the point; then flush so free space is really gone.
    await exec(['dd', 'if=/dev/urandom', `of=${filler}`, 'bs=1M', 'status=none'], {
      reject: false,
    });
    await exec(['sync', '-f', filler], { reject: false });
    return filler;
  };

  let cleaning: Promise<void> | undefined;
  const teardown = async (): Promise<void> => {
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    };
    await step(() => stopSsh());
    // Anything else still running in B (a receive spawned by a test) would keep mounts busy.
    if (res.netns) {
      const others = (await netnsPids(res.netns)).filter((pid) => pid !== res.holderPid);
      for (const pid of others) tryKill(pid, 'SIGKILL');
      await waitGone(others);
    }
    for (const path of [...res.mounted].reverse()) {
      await step(() => unmountInB(exec, path));
    }
    res.mounted = [];
    if (res.holderPid !== undefined) {
      const pid = res.holderPid;
      tryKill(pid, 'SIGKILL');
      await holder;
      await waitGone([pid]);
      res.holderPid = undefined;
    }
    for (const { device, image } of res.devices) await step(() => detach(device, image));
    res.devices = [];
    if (res.vethA) {
      const vethA = res.vethA;
      await step(() => execa('ip', ['link', 'del', vethA], { reject: false }));
      res.vethA = undefined;
    }
    if (res.netns) {
      const netns = res.netns;
      await step(() => execa('ip', ['netns', 'del', netns]));
      res.netns = undefined;
    }
    await step(() => rm(dir, { recursive: true, force: true }));
    live.delete(res);
    if (errors.length > 0) throw new AggregateError(errors, 'host B cleanup failed');
  };

  try {
    // Network: B's netns, a veth pair (A end here, B end moved into the netns), a /30.
    const netns = `bv-b-${suffix}`;
    await execa('ip', ['netns', 'add', netns]);
    res.netns = netns;
    const vethA = `bv-a${suffix}`;
    const vethB = `bv-b${suffix}`;
    await execa('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
    res.vethA = vethA;
    await execa('ip', ['link', 'set', vethB, 'netns', netns]);
    await execa('ip', ['addr', 'add', `${localAddress}/30`, 'dev', vethA]);
    await execa('ip', ['link', 'set', vethA, 'up']);
    const inNetns = (args: string[]) => execa('ip', ['-n', netns, ...args]);
    await inNetns(['addr', 'add', `${address}/30`, 'dev', vethB]);
    await inNetns(['link', 'set', vethB, 'up']);
    await inNetns(['link', 'set', 'lo', 'up']);

    // Mounts: a long-lived process in the netns holding a private copy of the mount table.
    // unshare without --fork execs the holder, so the pid execa reports is inside both.
    const holderProcess = execa(
      'nsenter',
      [
        `--net=/run/netns/${netns}`,
        'unshare',
        '--mount',
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
    if (holderPid === undefined) throw new Error('could not start host B namespace holder');
    res.holderPid = holderPid;
    await waitForOwnMountNamespace(holderPid);
    // The copied mount table still references A's (and other tests') loop filesystems; drop
    // them in B so B neither sees A's data nor keeps their devices busy after A unmounts.
    await unmountForeignLoopMounts(exec, holderPid);

    for (const [index, path] of paths.entries()) {
      const image = join(dir, `bv-b-${suffix}-${index}.img`);
      await writeFile(image, '');
      await truncate(image, sizeMiB * 1024 * 1024);
      await execa('mkfs.btrfs', ['-q', '-f', '-L', `bv-b-${index}`, '--', image]);
      const device = await attach(image);
      res.devices.push({ device, image });
      await exec(['mkdir', '-p', '--', path]);
      await exec(['mount', '-t', 'btrfs', '--', device, path]);
      res.mounted.push(path);
    }

    // ssh: keys, a config that trusts only our generated key, then sshd inside B.
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bv-hostb', '-f', hostKey]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bv-a', '-f', identityFile]);
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
    // sshd's privilege-separation directory; harmless and standard where it is missing.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    await startSsh();
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }

  const sshOptions = [
    '-F',
    'none',
    '-p',
    String(sshPort),
    '-i',
    identityFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHostsFile}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
  ];

  return {
    address,
    localAddress,
    sshPort,
    identityFile,
    knownHostsFile,
    sshOptions,
    ssh: {
      port: sshPort,
      identityFile,
      knownHostsFile,
      strictHostKeyChecking: 'yes',
      configFile: 'none',
    },
    paths,
    netns: res.netns!,
    exec,
    async showSubvolume(path) {
      const result = await exec(['btrfs', 'subvolume', 'show', '--', path], { reject: false });
      if (result.exitCode !== 0) return undefined;
      const fields: Record<string, string> = {};
      for (const match of result.stdout.matchAll(/^\s*([A-Za-z ]+):\s*(.*)$/gm)) {
        fields[match[1]!.trim()] = match[2]!.trim();
      }
      return fields;
    },
    stopSsh,
    startSsh,
    fillDisk,
    cleanup() {
      cleaning ??= teardown();
      return cleaning;
    },
  };
}

/** Runs `fn` with a fresh host B and always tears it down, also when `fn` throws. */
export async function withHostB<T>(
  fn: (host: HostB) => Promise<T> | T,
  options: HostBOptions,
): Promise<T> {
  const host = await createHostB(options);
  try {
    return await fn(host);
  } finally {
    await host.cleanup();
  }
}

/** A random 10.x.y.z/30 that overlaps no address or route on this machine. */
async function pickSubnet(): Promise<{ a: string; b: string }> {
  const { stdout: addrs } = await execa('ip', ['-o', '-4', 'addr', 'show']);
  const { stdout: routes } = await execa('ip', ['-4', 'route', 'show', 'table', 'all']);
  const taken: { base: number; mask: number }[] = [];
  for (const match of `${addrs}\n${routes}`.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const prefix = match[2] === undefined ? 32 : Number(match[2]);
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    taken.push({ base: (toInt(match[1]!) & mask) >>> 0, mask });
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    // Network address of a /30 inside 10.64.0.0/10, a corner of 10/8 rarely used by hand.
    const base = (((10 << 24) | (64 << 16)) + randomInt(0, 1 << 20) * 4) >>> 0;
    const overlaps = taken.some(
      (t) => (base & t.mask) >>> 0 === t.base || (t.base & 0xfffffffc) >>> 0 === base,
    );
    if (!overlaps) return { a: toDotted(base + 1), b: toDotted(base + 2) };
  }
  throw new Error('could not find a free 10.x /30 for host B');
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
  throw new Error(`host B namespace holder (pid ${pid}) did not start`);
}

async function readlinkSafe(path: string): Promise<string | undefined> {
  return readlink(path).catch(() => undefined);
}

type Exec = (argv: readonly string[], options?: HostBExecOptions) => Promise<HostBExecResult>;

async function unmountForeignLoopMounts(exec: Exec, holderPid: number): Promise<void> {
  const mountinfo = await readFile(`/proc/${holderPid}/mountinfo`, 'utf8');
  const targets: string[] = [];
  for (const line of mountinfo.split('\n')) {
    // mountinfo: id parent major:minor root mountpoint opts ... - fstype source superopts
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4];
    const source = right.split(' ')[1];
    if (mountPoint && source?.startsWith('/dev/loop')) targets.push(unescapeMount(mountPoint));
  }
  // Deepest first, lazily: nothing runs in B yet, so nothing can be busy there.
  for (const target of targets.sort((x, y) => y.length - x.length)) {
    await exec(['umount', '-l', '--', target], { reject: false });
  }
}

function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

async function unmountInB(exec: Exec, path: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await exec(['umount', '--', path], { reject: false });
    if (result.exitCode === 0 || /not mounted|no mount point/i.test(result.stderr)) return;
    await sleep(100);
  }
  await exec(['umount', '-l', '--', path]);
}

async function waitForPort(
  host: string,
  port: number,
  child: Child,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`sshd in host B exited (${child.exitCode}): ${stderr()}`);
    }
    if (await canConnect(host, port)) return;
    await sleep(25);
  }
  throw new Error(`sshd in host B did not listen on ${host}:${port}: ${stderr()}`);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

// Two fixtures attaching at once can be handed the same free device; the loser retries.
async function attach(image: string): Promise<string> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const { stdout } = await execa('losetup', ['--find', '--show', '--', image]);
      const device = stdout.trim();
      if (device.startsWith('/dev/loop')) return device;
      lastError = new Error(`losetup printed an unexpected device: ${JSON.stringify(stdout)}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(50 + Math.random() * 100);
  }
  throw lastError;
}

async function detach(device: string, image: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Never detach a device number that has meanwhile been handed to another fixture.
    const result = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE', device], {
      reject: false,
    });
    if (result.exitCode !== 0 || result.stdout.trim() !== image) return;
    await execa('losetup', ['-d', device], { reject: false });
    await sleep(100);
  }
  throw new Error(`could not detach ${device} (backing ${image}); check 'losetup -a'`);
}
