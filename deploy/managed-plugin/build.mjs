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
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Debian trixie ships nodejs 20.19, the minimum the apps support (bookworm has 18).
const PACKAGES = [
  'nodejs',
  'btrfs-progs',
  'openssh-client',
  'rsync',
  'e2fsprogs',
  'ca-certificates',
];

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    suite: { type: 'string', default: 'trixie' },
    mirror: { type: 'string', default: 'http://deb.debian.org/debian' },
    create: { type: 'string' },
    'docker-host': { type: 'string' },
    'skip-app': { type: 'boolean', default: false },
  },
  strict: true,
});

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

if (!/^[a-z]+$/.test(values.suite)) fail(`--suite must be a Debian code name, got ${values.suite}`);
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
    run(
      'pnpm',
      [
        '--filter',
        '@buttervolume/cli',
        'deploy',
        '--prod',
        '--legacy',
        join(rootfs, 'opt', 'buttervolume'),
      ],
      {
        cwd: repo,
      },
    );
    mkdirSync(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
    symlinkSync(
      '/opt/buttervolume/dist/bin.js',
      join(rootfs, 'usr', 'local', 'bin', 'buttervolume'),
    );
  });
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

// Same mounts as the 3.x managed plugin, so its users keep their config, schedule and ssh keys.
const config = {
  description: 'buttervolume: Docker volumes as btrfs subvolumes, with snapshots and replication',
  documentation: 'https://github.com/anybox/buttervolume/',
  entrypoint: ['/usr/local/bin/buttervolume', 'run'],
  workdir: '/',
  interface: { types: ['docker.volumedriver/1.0'], socket: 'btrfs.sock' },
  network: { type: 'host' },
  propagatedMount: '/var/lib/buttervolume',
  mounts: [
    bind('/var/lib/buttervolume', '/var/lib/buttervolume'),
    bind('/var/lib/buttervolume/config', '/etc/buttervolume'),
    bind('/var/lib/buttervolume/ssh', '/root/.ssh'),
  ],
  env: [
    {
      name: 'SSH_PORT',
      description: 'ssh port of the remote hosts for send and sync',
      settable: ['value'],
      value: '22',
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
function bind(source, destination) {
  return { type: 'bind', source, destination, options: ['rbind', 'rw'] };
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
