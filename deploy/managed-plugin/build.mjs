#!/usr/bin/env node
// Assembles the Docker managed plugin (rootfs/ + config.json) for buttervolume WITHOUT
// pulling any image: the rootfs is a minimal Debian made by debootstrap from Debian's mirror,
// plus the built CLI/daemon deployed by pnpm. Optionally runs `docker plugin create`.
//
//   node deploy/managed-plugin/build.mjs [--out DIR] [--suite trixie] [--mirror URL]
//        [--create NAME] [--docker-host unix:///path/docker.sock] [--skip-app]
//
// Needs root (debootstrap), debootstrap, pnpm, and `pnpm build` done first.
// No shell: every command is an argument array; options are checked before use.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Debian trixie ships nodejs 20.19, the minimum the apps support (bookworm has 18).
// openssh-server: peers send into this plugin (see rootfs/usr/local/lib/buttervolume/);
// tini: process 1, reaping orphans (ssh ControlPersist masters, abandoned receives).
const PACKAGES = [
  'nodejs',
  'btrfs-progs',
  'openssh-client',
  'openssh-server',
  'tini',
  'rsync',
  'e2fsprogs',
  'ca-certificates',
];

/** Inside the plugin, relative to the rootfs. */
const DOCKER_SOCKET = 'run/host-docker.sock';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    suite: { type: 'string', default: 'trixie' },
    mirror: { type: 'string' },
    create: { type: 'string' },
    'docker-host': { type: 'string' },
    'skip-app': { type: 'boolean', default: false },
  },
  strict: true,
});

/**
 * The Debian mirror this machine's apt already uses (the first `.../debian` URI of its sources),
 * so the build reaches exactly what `apt-get install` reaches here.
 */
function aptMirror() {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) {
      if (f.endsWith('.sources') || f.endsWith('.list')) files.push(`/etc/apt/sources.list.d/${f}`);
    }
  } catch {}
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const match = /^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+\/debian)\/?(?=\s|$)/m.exec(
      text,
    );
    if (match) return match[1];
  }
  fail('no Debian mirror found in /etc/apt/sources.list(.d); pass --mirror URL');
}

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

if (!/^[a-z]+$/.test(values.suite)) fail(`--suite must be a Debian code name, got ${values.suite}`);
values.mirror ??= aptMirror();
if (!/^https?:\/\/[^\s]+$/.test(values.mirror)) fail(`--mirror must be an http(s) URL`);
if (
  values.create !== undefined &&
  !/^[a-z0-9][a-z0-9._/-]*(:[a-zA-Z0-9._-]+)?$/.test(values.create)
) {
  fail(`--create must be a plugin name like anybox/buttervolume:latest`);
}
if (values['docker-host'] !== undefined && !values['docker-host'].startsWith('unix:///')) {
  fail('--docker-host must be unix:///path/to/docker.sock');
}
if (process.getuid?.() !== 0) fail('run as root: debootstrap needs it');

const out = resolve(
  values.out ?? join(tmpdir(), `bv-managed-plugin-${randomBytes(4).toString('hex')}`),
);
const rootfs = join(out, 'rootfs');
if (existsSync(out) && readdirSync(out).length > 0)
  fail(`${out} is not empty: give an empty or new --out`);
mkdirSync(rootfs, { recursive: true });

function run(file, args, options = {}) {
  console.log(`+ ${file} ${args.join(' ')}`);
  const result = spawnSync(file, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) fail(`${file} failed with exit code ${result.status ?? result.signal}`);
}

/**
 * Copies what `pnpm deploy` needs and nothing else: the workspace manifests and lockfile, and
 * each workspace package's package.json, dist/ and README. Every workspace package is staged
 * (not only the CLI's dependencies) so the lockfile still matches the workspace.
 */
function stageWorkspace(staging) {
  mkdirSync(staging, { recursive: true });
  for (const file of ['package.json', 'pnpm-workspace.yaml', 'pnpm-lock.yaml', '.npmrc']) {
    if (existsSync(join(repo, file))) cpSync(join(repo, file), join(staging, file));
  }
  for (const dir of workspacePackageDirs()) {
    for (const entry of ['package.json', 'dist', 'README.md']) {
      const from = join(repo, dir, entry);
      if (existsSync(from)) cpSync(from, join(staging, dir, entry), { recursive: true });
    }
  }
}

/** The package folders pnpm-workspace.yaml names: `- "dir/*"` or `- "dir"` entries. */
function workspacePackageDirs() {
  const yaml = readFileSync(join(repo, 'pnpm-workspace.yaml'), 'utf8');
  const section = yaml.split(/^packages:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  const dirs = [];
  for (const match of section.matchAll(/^\s+-\s+["']?([^"'\s]+)["']?\s*$/gm)) {
    const pattern = match[1];
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(repo, parent))) {
        if (existsSync(join(repo, parent, entry, 'package.json'))) dirs.push(join(parent, entry));
      }
    } else if (existsSync(join(repo, pattern, 'package.json'))) {
      dirs.push(pattern);
    }
  }
  if (dirs.length === 0) fail('found no workspace packages in pnpm-workspace.yaml');
  return dirs;
}

const timings = {};
function timed(name, fn) {
  const started = performance.now();
  fn();
  timings[name] = Math.round((performance.now() - started) / 1000);
}

timed('debootstrap', () =>
  run('debootstrap', [
    '--variant=minbase',
    `--include=${PACKAGES.join(',')}`,
    values.suite,
    rootfs,
    values.mirror,
  ]),
);

if (!values['skip-app']) {
  timed('app', () => {
    const bin = join(repo, 'apps', 'cli', 'dist', 'bin.js');
    if (!existsSync(bin)) fail(`${bin} is missing: run \`pnpm build\` first (or --skip-app)`);
    // A self-contained copy of the CLI (which embeds the daemon) with production deps only.
    // Deployed from a staged copy of the workspace: `pnpm deploy --prod --legacy` run in the
    // repository itself re-installs the whole workspace without devDependencies (pnpm 12),
    // which removes tsc, vitest and biome from under everyone working in it.
    const staging = join(out, 'workspace-staging');
    stageWorkspace(staging);
    try {
      run(
        'pnpm',
        [
          '--dir',
          staging,
          '--filter',
          '@buttervolume/cli',
          'deploy',
          '--prod',
          '--legacy',
          join(rootfs, 'opt', 'buttervolume'),
        ],
        { cwd: staging },
      );
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    mkdirSync(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
    symlinkSync(
      '/opt/buttervolume/dist/bin.js',
      join(rootfs, 'usr', 'local', 'bin', 'buttervolume'),
    );
  });
}

// Our files over Debian's: the entrypoint and sshd's config (rootfs/ next to this script).
cpSync(join(dirname(fileURLToPath(import.meta.url)), 'rootfs'), rootfs, { recursive: true });
// openssh-server's postinst made host keys: every installation of this plugin would share
// them (3.x's image did). The entrypoint makes the plugin's own in its ssh mount instead.
for (const entry of readdirSync(join(rootfs, 'etc', 'ssh'))) {
  if (/^ssh_host_.*_key(\.pub)?$/.test(entry)) rmSync(join(rootfs, 'etc', 'ssh', entry));
}

// Smaller plugin: package caches are not needed at run time.
for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
  for (const entry of readdirSync(join(rootfs, dir))) {
    if (entry !== 'partial' && entry !== 'lock')
      rmSync(join(rootfs, dir, entry), { recursive: true, force: true });
  }
}
// Mount targets must exist in the rootfs.
for (const dir of ['var/lib/buttervolume', 'etc/buttervolume', 'root/.ssh', 'run/docker/plugins']) {
  mkdirSync(join(rootfs, dir), { recursive: true });
}
// The Docker socket's mount target: a file, since a socket is bound onto it.
writeFileSync(join(rootfs, DOCKER_SOCKET), '');

// Same mounts as the 3.x managed plugin, so its users keep their config, schedule and ssh keys.
// Plus Docker's socket for group snapshots and hooks, off by default: its source is /dev/null
// (nothing answers there, so only those features are off) until the operator sets it, e.g.
// `docker plugin set NAME docker.source=/var/run/docker.sock`.
const config = {
  description: 'buttervolume: Docker volumes as btrfs subvolumes, with snapshots and replication',
  documentation: 'See README.md in the buttervolume repository',
  // tini is process 1 (reaps orphans, passes signals on); the entrypoint runs sshd and
  // `buttervolume run`.
  entrypoint: [
    '/usr/bin/tini',
    '-s',
    '--',
    '/usr/bin/node',
    '/usr/local/lib/buttervolume/entrypoint.mjs',
  ],
  workdir: '/',
  interface: { types: ['docker.volumedriver/1.0'], socket: 'btrfs.sock' },
  network: { type: 'host' },
  propagatedMount: '/var/lib/buttervolume',
  // Named and settable (`docker plugin set NAME data.source=/srv/bv`), so the data can live
  // elsewhere than 3.x's fixed /var/lib/buttervolume; the defaults are 3.x's.
  mounts: [
    bind('data', '/var/lib/buttervolume', '/var/lib/buttervolume'),
    bind('config', '/var/lib/buttervolume/config', '/etc/buttervolume'),
    bind('ssh', '/var/lib/buttervolume/ssh', '/root/.ssh'),
    {
      ...bind('docker', '/dev/null', `/${DOCKER_SOCKET}`),
      description:
        "Docker's API socket, for group snapshots and hooks: set docker.source=/var/run/docker.sock to enable",
    },
  ],
  env: [
    {
      name: 'SSH_PORT',
      description:
        'port of the sshd in this plugin (peers send to it) and of the peers for send and sync',
      settable: ['value'],
      value: '1122',
    },
    {
      name: 'BUTTERVOLUME_DOCKER_SOCKET',
      description: "where the docker mount puts Docker's socket",
      value: `/${DOCKER_SOCKET}`,
    },
    {
      // Replicated volumes need each peer's CLI over ssh and Docker's socket for the copy-up
      // probe; the plugin has neither by default, so Create refuses replicas= with the way out.
      name: 'BUTTERVOLUME_REPLICATED_VOLUMES',
      description: 'replicated volumes (replicas=) are for buttervolume installed on the host',
      value: 'false',
    },
    {
      name: 'BUTTERVOLUME_LOGLEVEL',
      description: 'DEBUG, INFO, WARNING, ERROR',
      settable: ['value'],
      value: 'INFO',
    },
  ],
  linux: { capabilities: ['CAP_SYS_ADMIN'] },
};
function bind(name, source, destination) {
  return {
    name,
    description: `${destination} in the plugin`,
    settable: ['source'],
    type: 'bind',
    source,
    destination,
    options: ['rbind', 'rw'],
  };
}
writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
const size = execFileSync('du', ['-sh', '--', rootfs], { encoding: 'utf8' }).split('\t')[0];
console.log(`rootfs ${rootfs} (${size}), config ${join(out, 'config.json')}`);

if (values.create !== undefined) {
  const env = { ...process.env };
  if (values['docker-host'] !== undefined) env.DOCKER_HOST = values['docker-host'];
  const docker = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  timed('plugin create', () => run(docker, ['plugin', 'create', values.create, out], { env }));
}
console.log(`timings (s): ${JSON.stringify(timings)}`);
