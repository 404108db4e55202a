import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rm,
  rmdir,
  statfs,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { atExit, tryKill, trySync } from './cleanup.js';

/** Output of one docker CLI call against the private daemon. */
export interface DockerResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface DockerCallOptions {
  /** Throw a DockerdError on a non-zero exit (default false: the caller inspects exitCode). */
  reject?: boolean;
  /** Written to the command's stdin. */
  input?: string;
}

/** A dockerd (with its own containerd) that shares nothing with the machine's Docker. */
export interface Dockerd {
  /** `unix://…` address for DOCKER_HOST / `docker -H`. */
  host: string;
  socketPath: string;
  dataRoot: string;
  execRoot: string;
  /** Private temp dir holding sockets, roots, logs; removed by stop(). */
  dir: string;
  /** Graph driver actually in use (overlay2 where the temp dir allows it, else vfs). */
  storageDriver: string;
  /** Our containers' cgroup parent: every container process is found (and killed) by it. */
  cgroupParent: string;
  /** Milliseconds from spawning dockerd until its API answered. */
  startupMs: number;
  /** Runs the docker CLI against this daemon (private DOCKER_CONFIG, never ~/.docker). */
  docker(args: readonly string[], options?: DockerCallOptions): Promise<DockerResult>;
  /** Builds a busybox image from the static busybox binary with `docker import`; returns the tag. */
  importBusybox(tag?: string): Promise<string>;
  /** dockerd's log so far, for failure messages. */
  logs(): Promise<string>;
  /** SIGTERM, wait, SIGKILL; kills our shims, unmounts everything under `dir`, removes it. Idempotent. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** Force a graph driver; by default overlay2 when the kernel and temp fs allow it, else vfs. */
  storageDriver?: string;
  /** Docker CLI binary; default /usr/bin/docker (Debian's, matching dockerd 20.10) or `docker`. */
  dockerCli?: string;
  /** How long to wait for the API (default 30 s). */
  startTimeoutMs?: number;
  /** Extra dockerd flags. */
  extraArgs?: readonly string[];
  /** Command prefix that runs containerd and dockerd elsewhere (e.g. `nsenter -t … --`). */
  prefix?: readonly string[];
  /** Extra environment for containerd and dockerd. */
  env?: Readonly<Record<string, string>>;
}

export type DockerdErrorCode =
  | 'DOCKERD_START_FAILED'
  | 'DOCKERD_START_TIMEOUT'
  | 'DOCKER_COMMAND_FAILED'
  | 'BUSYBOX_MISSING'
  | 'PLUGIN_NAME_INVALID'
  | 'PLUGIN_NAME_TAKEN';

export class DockerdError extends Error {
  override readonly name = 'DockerdError';
  constructor(
    readonly code: DockerdErrorCode,
    message: string,
    readonly details: { command?: string; exitCode?: number; stderr?: string } = {},
  ) {
    super(message);
  }
}

/** Where dockerd looks for legacy plugins: sockets first, then spec files (fixed paths). */
export const LEGACY_PLUGIN_SOCKET_DIR = '/run/docker/plugins';
export const LEGACY_PLUGIN_SPEC_DIRS = ['/etc/docker/plugins', '/usr/lib/docker/plugins'] as const;

const OVERLAYFS_MAGIC = 0x794c7630;
const DEFAULT_BUSYBOX_TAG = 'bv-busybox:latest';

interface LiveDaemon {
  dir: string;
  pids: number[];
}
// Daemons still running, so a worker that dies without its afterAll leaves no dockerd behind.
const live = new Map<string, LiveDaemon>();
const liveSpecFiles = new Set<string>();

function removeLive(): void {
  for (const file of liveSpecFiles) trySync('rm', ['-f', '--', file]);
  for (const daemon of live.values()) {
    for (const pid of [...daemon.pids, ...pidsReferencing(daemon.dir)]) tryKill(pid, 'SIGKILL');
    for (const mount of mountsUnderSync(daemon.dir)) trySync('umount', ['-l', '--', mount]);
    trySync('rm', ['-rf', '--', daemon.dir]);
  }
}

/** A plugin name no real Docker set-up uses, so tests never shadow or remove a real driver. */
export function uniquePluginName(prefix = 'bv-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The socket path a legacy plugin called `name` listens on to be found without a spec file. */
export function pluginSocketPath(name: string): string {
  return join(LEGACY_PLUGIN_SOCKET_DIR, `${parsePluginName(name)}.sock`);
}

function parsePluginName(name: string): string {
  // The name becomes a file name in a system directory: no separators, no dot-dot, no flags.
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name) || name.includes('..')) {
    throw new DockerdError(
      'PLUGIN_NAME_INVALID',
      `invalid plugin name ${JSON.stringify(name)}: use lowercase letters, digits, '_', '.', '-' (e.g. uniquePluginName())`,
    );
  }
  return name;
}

export interface RegisteredPlugin {
  /** The driver name to pass to `docker volume create -d` / `--volume-driver`. */
  driver: string;
  specFile: string;
  /** Removes the spec file (only if it is still ours). Idempotent. */
  unregister(): Promise<void>;
}

/**
 * Makes every dockerd on this host find a legacy volume plugin `name` listening on
 * `socketPath`, by writing `<specDir>/<name>.spec`. dockerd reads spec dirs at fixed paths,
 * shared with the machine's Docker: use a unique name (uniquePluginName()) and unregister.
 */
export async function registerVolumePlugin(
  name: string,
  socketPath: string,
  options: { specDir?: string } = {},
): Promise<RegisteredPlugin> {
  const driver = parsePluginName(name);
  const specDir = options.specDir ?? LEGACY_PLUGIN_SPEC_DIRS[0];
  // dockerd prefers a socket or an earlier spec of the same name: ours would silently lose.
  const shadows = [
    join(LEGACY_PLUGIN_SOCKET_DIR, `${driver}.sock`),
    join(LEGACY_PLUGIN_SOCKET_DIR, driver, `${driver}.sock`),
    ...LEGACY_PLUGIN_SPEC_DIRS.flatMap((dir) => [
      join(dir, `${driver}.spec`),
      join(dir, `${driver}.json`),
    ]),
  ];
  const taken = shadows.find((path) => existsSync(path));
  if (taken !== undefined) {
    throw new DockerdError(
      'PLUGIN_NAME_TAKEN',
      `a plugin named ${driver} is already registered at ${taken}: pick another name (uniquePluginName())`,
    );
  }
  const createdDir = !existsSync(specDir);
  await mkdir(specDir, { recursive: true });
  const specFile = join(specDir, `${driver}.spec`);
  const content = `unix://${socketPath}\n`;
  await writeFile(specFile, content, { flag: 'wx' });
  atExit(removeLive);
  liveSpecFiles.add(specFile);
  let done = false;
  return {
    driver,
    specFile,
    async unregister() {
      if (done) return;
      done = true;
      liveSpecFiles.delete(specFile);
      const current = await readFile(specFile, 'utf8').catch(() => undefined);
      if (current === content) await unlink(specFile);
      // Leave the system directory as we found it, unless someone else has put files in it.
      if (createdDir) await rmdir(specDir).catch(() => {});
    },
  };
}

/** Starts a private containerd + dockerd in a fresh temp dir. Always pair with stop(). */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  // Short paths: unix socket paths are limited to 108 bytes.
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'bv-dockerd-')));
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socketPath = join(dir, 'docker.sock');
  const containerdSocket = join(dir, 'containerd.sock');
  const dockerConfig = join(dir, 'cli');
  const host = `unix://${socketPath}`;
  const dockerCli =
    options.dockerCli ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
  const entry: LiveDaemon = { dir, pids: [] };
  atExit(removeLive);
  live.set(dir, entry);

  let containerd: Daemon | undefined;
  let dockerd: Daemon | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= teardown(entry, dockerd, containerd);
    return stopping;
  };

  try {
    await Promise.all([dataRoot, execRoot, dockerConfig].map((d) => mkdir(d, { recursive: true })));
    const storageDriver = options.storageDriver ?? (await defaultStorageDriver(dir));

    // Our own containerd: otherwise dockerd would use the machine's one when its socket exists.
    const containerdConfig = join(dir, 'containerd.toml');
    await writeFile(
      containerdConfig,
      [
        'version = 2',
        `root = ${JSON.stringify(join(dataRoot, 'containerd'))}`,
        `state = ${JSON.stringify(join(execRoot, 'containerd'))}`,
        // CRI would open a streaming port and look for CNI; Docker does not need it.
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = ${JSON.stringify(containerdSocket)}`,
        '',
      ].join('\n'),
    );
    const spawn = (file: string, args: readonly string[], logFile: string) =>
      spawnDaemon(file, args, logFile, options);
    containerd = spawn('containerd', ['--config', containerdConfig], join(dir, 'containerd.log'));
    if (containerd.pid !== undefined) entry.pids.push(containerd.pid);
    await waitFor(
      async () => existsSync(containerdSocket),
      containerd,
      options.startTimeoutMs ?? 30_000,
      'containerd',
      join(dir, 'containerd.log'),
    );

    // An empty config file and a private key path: never read /etc/docker/daemon.json, never
    // write /etc/docker/key.json.
    const daemonJson = join(dir, 'daemon.json');
    // `deprecated-key-path` is accepted only in the config file, not as a flag (dockerd 20.10).
    await writeFile(
      daemonJson,
      `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`,
    );
    const args = [
      '--config-file',
      daemonJson,
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--host',
      host,
      '--containerd',
      containerdSocket,
      '--storage-driver',
      storageDriver,
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
      // Containers outlive a killed dockerd and shim (re-parented to init, still holding our
      // mounts); a cgroup parent of our own lets stop() find and kill them.
      '--cgroup-parent',
      `/${basename(dir)}`,
      ...(options.extraArgs ?? []),
    ];
    const started = performance.now();
    dockerd = spawn('dockerd', args, join(dir, 'dockerd.log'));
    if (dockerd.pid !== undefined) entry.pids.push(dockerd.pid);
    await waitFor(
      () => ping(socketPath),
      dockerd,
      options.startTimeoutMs ?? 30_000,
      'dockerd',
      join(dir, 'dockerd.log'),
    );
    const startupMs = Math.round(performance.now() - started);

    const docker = async (
      cliArgs: readonly string[],
      callOptions: DockerCallOptions = {},
    ): Promise<DockerResult> => {
      const result = await execa(dockerCli, ['--host', host, ...cliArgs], {
        env: { DOCKER_CONFIG: dockerConfig, DOCKER_HOST: host },
        reject: false,
        ...(callOptions.input !== undefined ? { input: callOptions.input } : {}),
      });
      const out: DockerResult = {
        stdout: String(result.stdout),
        stderr: String(result.stderr),
        exitCode: result.exitCode ?? -1,
      };
      if (callOptions.reject && out.exitCode !== 0) {
        throw new DockerdError(
          'DOCKER_COMMAND_FAILED',
          `docker ${cliArgs.join(' ')} failed with exit code ${out.exitCode}: ${out.stderr.trim()}`,
          {
            command: `${dockerCli} ${cliArgs.join(' ')}`,
            exitCode: out.exitCode,
            stderr: out.stderr,
          },
        );
      }
      return out;
    };
    // The API answering /_ping is not quite "ready" for every call; `docker info` is the check.
    await docker(['info'], { reject: true });

    let busybox: Promise<string> | undefined;
    let busyboxTag: string | undefined;
    return {
      host,
      socketPath,
      dataRoot,
      execRoot,
      dir,
      storageDriver,
      cgroupParent: basename(dir),
      startupMs,
      docker,
      importBusybox(tag = DEFAULT_BUSYBOX_TAG) {
        if (busybox !== undefined && busyboxTag === tag) return busybox;
        busyboxTag = tag;
        busybox = importBusybox(dir, docker, tag);
        return busybox;
      },
      logs: () => readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => ''),
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

/** Runs `fn` with a private dockerd and always stops it, also when `fn` throws. */
export async function withDockerd<T>(
  fn: (dockerd: Dockerd) => Promise<T> | T,
  options?: DockerdOptions,
): Promise<T> {
  const dockerd = await startDockerd(options);
  try {
    return await fn(dockerd);
  } finally {
    await dockerd.stop();
  }
}

function spawnDaemon(
  file: string,
  args: readonly string[],
  logFile: string,
  options: Pick<DockerdOptions, 'prefix' | 'env'> = {},
) {
  // The prefix (nsenter) execs the daemon, so the pid we hold is the daemon's own.
  const [head, ...rest] = [...(options.prefix ?? []), file, ...args];
  return execa(head!, rest, {
    stdout: { file: logFile },
    stderr: { file: logFile },
    reject: false,
    ...(options.env !== undefined ? { env: { ...options.env } } : {}),
  });
}
type Daemon = ReturnType<typeof spawnDaemon>;

async function defaultStorageDriver(dir: string): Promise<string> {
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const hasOverlay = /\boverlay$/m.test(filesystems);
  // overlay2 cannot stack on overlayfs (e.g. when this itself runs in a container).
  const onOverlay = (await statfs(dir)).type === OVERLAYFS_MAGIC;
  return hasOverlay && !onOverlay ? 'overlay2' : 'vfs';
}

async function waitFor(
  ready: () => Promise<boolean>,
  child: Promise<unknown>,
  timeoutMs: number,
  what: string,
  logFile: string,
): Promise<void> {
  let exited = false;
  child.then(
    () => {
      exited = true;
    },
    () => {
      exited = true;
    },
  );
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await ready()) return;
    if (exited) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new DockerdError(
        'DOCKERD_START_FAILED',
        `${what} exited during start-up; its log (${logFile}) ends with:\n${tail(log)}`,
        { command: what, stderr: tail(log) },
      );
    }
    await sleep(25);
  }
  const log = await readFile(logFile, 'utf8').catch(() => '');
  throw new DockerdError(
    'DOCKERD_START_TIMEOUT',
    `${what} did not answer within ${timeoutMs} ms; its log ends with:\n${tail(log)}`,
    { command: what, stderr: tail(log) },
  );
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function importBusybox(dir: string, docker: Dockerd['docker'], tag: string): Promise<string> {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((path) => existsSync(path));
  if (busybox === undefined) {
    throw new DockerdError(
      'BUSYBOX_MISSING',
      'no /bin/busybox: install busybox-static (apt-get install busybox-static)',
    );
  }
  const rootfs = join(dir, `busybox-rootfs-${randomBytes(3).toString('hex')}`);
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await Promise.all(['tmp', 'etc', 'proc', 'sys', 'dev'].map((d) => mkdir(join(rootfs, d))));
  await execa('cp', ['--', busybox, join(rootfs, 'bin', 'busybox')]);
  const { stdout } = await execa(busybox, ['--list']);
  const applets = stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  await Promise.all(applets.map((a) => symlink('busybox', join(rootfs, 'bin', a))));
  const tarball = `${rootfs}.tar`;
  await execa('tar', ['-C', rootfs, '-cf', tarball, '.']);
  await docker(['import', '--change', 'CMD ["/bin/sh"]', tarball, tag], { reject: true });
  await rm(rootfs, { recursive: true, force: true });
  await rm(tarball, { force: true });
  return tag;
}

async function teardown(
  entry: LiveDaemon,
  dockerd: Daemon | undefined,
  containerd: Daemon | undefined,
): Promise<void> {
  // dockerd first: on SIGTERM it stops its containers, then containerd can go.
  if (dockerd !== undefined) await terminate(dockerd, 20_000);
  if (containerd !== undefined) await terminate(containerd, 10_000);
  // Shims (containerd-shim-runc-v2) are re-parented to init, not children of containerd;
  // they carry our private containerd address on their command line.
  const killed = pidsReferencing(entry.dir);
  for (const pid of killed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // SIGKILL is delivered asynchronously: wait until they are gone (and their mounts released).
  for (let i = 0; i < 100 && killed.some((pid) => existsSync(`/proc/${pid}/cgroup`)); i++) {
    await sleep(20);
  }
  for (const mount of await mountsUnder(entry.dir)) await unmount(mount);
  await rm(entry.dir, { recursive: true, force: true });
  live.delete(entry.dir);
}

async function terminate(child: Daemon, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) {
    await child;
    return;
  }
  child.kill('SIGTERM');
  const timedOut = await Promise.race([child.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) child.kill('SIGKILL');
  await child;
}

/** Our shims (our dir on their command line) and our containers' processes (our cgroup parent). */
function pidsReferencing(dir: string): number[] {
  const cgroup = `:/${basename(dir)}/`;
  const pids: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      // Arguments are NUL-separated; our unique dir appears in any of them.
      if (
        readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir) ||
        readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(cgroup)
      ) {
        pids.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Processes still inside the containers of the dockerd whose temp dir is `dir`. */
export function containerProcesses(dockerd: Pick<Dockerd, 'cgroupParent'>): number[] {
  const cgroup = `:/${dockerd.cgroupParent}/`;
  return safeReaddir('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(cgroup);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function parseMountPoints(mounts: string, dir: string): string[] {
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point): point is string => point !== undefined)
    .map((point) =>
      point.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))),
    )
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

async function mountsUnder(dir: string): Promise<string[]> {
  return parseMountPoints(await readFile('/proc/self/mounts', 'utf8'), dir);
}

function mountsUnderSync(dir: string): string[] {
  try {
    return parseMountPoints(readFileSync('/proc/self/mounts', 'utf8'), dir);
  } catch {
    return [];
  }
}

async function unmount(mountPoint: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const result = await execa('umount', ['--', mountPoint], { reject: false });
    if (result.exitCode === 0 || /not mounted|no mount point/i.test(result.stderr)) return;
    await sleep(100);
  }
  await execa('umount', ['-l', '--', mountPoint], { reject: false });
}
