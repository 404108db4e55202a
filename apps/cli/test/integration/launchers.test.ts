// Every way the daemon is started in production ends in a node process carrying the V8 flags and
// the environment of bin.js's first line (the daemon's RSS at 10,000 volumes and its Docker
// calls' latency during a purge depend on them): the managed plugin's
// symlink, the wrapper scripts/setup.sh installs, the systemd unit running that wrapper, and
// the wrapper deploy/README.md writes by hand. Each is built from the repository's own text.
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startDaemonFixture } from './daemon.js';

const REPO = resolve(dirname(BIN), '../../..');
const FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--v8-pool-size=1'];
const ENV = ['UV_THREADPOOL_SIZE=16'];
const INSTALLED = '/usr/local/bin/buttervolume';
let scratch: string;

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'truncate']);
  scratch = await mkdtemp(join(tmpdir(), 'bv-launchers-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const text = (path: string) => readFile(join(REPO, path), 'utf8');

async function executable(name: string, content: string): Promise<string> {
  const path = join(scratch, name);
  await writeFile(path, content, { mode: 0o755 });
  return path;
}

/** The wrapper setup.sh writes (an unquoted heredoc: `$repo` expanded, `\$@` kept as `$@`). */
async function setupWrapper(): Promise<string> {
  const script = await text('scripts/setup.sh');
  expect(script).toMatch(/^BIN_DIR="\$\{BIN_DIR:-\/usr\/local\/bin\}"$/m);
  const body = /<<WRAPPER\n([\s\S]*?)\nWRAPPER\n/.exec(script)?.[1];
  expect(body, 'the WRAPPER heredoc of setup.sh').toBeDefined();
  return executable('setup-wrapper', `${body!.replaceAll('$repo', REPO).replaceAll('\\$', '$')}\n`);
}

/**
 * Starts the daemon with `command`, checks that the process serving the socket has ENV, and
 * returns its argv.
 */
async function daemonArgv(command: readonly [string, ...string[]]): Promise<string[]> {
  const daemon = await startDaemonFixture({ command });
  try {
    const environ = await readFile(`/proc/${daemon.pid}/environ`, 'utf8');
    expect(environ.split('\0')).toEqual(expect.arrayContaining(ENV));
    const cmdline = await readFile(`/proc/${daemon.pid}/cmdline`, 'utf8');
    return cmdline.split('\0').filter(Boolean);
  } finally {
    await daemon.stop();
  }
}

function expectFlagged(argv: string[]): void {
  expect(argv[0]).toMatch(/(^|\/)node$/);
  expect(argv.slice(1, argv.indexOf(BIN))).toEqual(expect.arrayContaining(FLAGS));
  expect(argv.slice(argv.indexOf(BIN))).toEqual([BIN, 'run']);
}

describe("the daemon carries bin.js's first-line V8 flags and environment from every launcher", () => {
  it('bin.js is executed by node with the flags and environment (shebang)', async () => {
    const first = (await readFile(BIN, 'utf8')).split('\n', 1)[0];
    expect(first).toBe(`#!/usr/bin/env -S ${ENV.join(' ')} node ${FLAGS.join(' ')}`);
  });

  it('the managed plugin: its entrypoint runs the symlink to bin.js', async () => {
    const entrypoint = await text(
      'deploy/managed-plugin/rootfs/usr/local/lib/buttervolume/entrypoint.mjs',
    );
    expect(entrypoint).toContain(`const BUTTERVOLUME = '${INSTALLED}';`);
    expect(entrypoint).toMatch(/spawn\(BUTTERVOLUME, \['run'\]/);
    const build = await text('deploy/managed-plugin/build.mjs');
    expect(build).toMatch(
      /symlinkSync\(\s*'\/opt\/buttervolume\/dist\/bin\.js',\s*join\(rootfs, 'usr', 'local', 'bin', 'buttervolume'\),/,
    );
    const link = join(scratch, 'buttervolume');
    await symlink(BIN, link);
    // The symlink resolves to BIN: node is given the link's path, as in the plugin.
    const argv = await daemonArgv([link, 'run']);
    expect(argv.slice(1, argv.indexOf(link))).toEqual(expect.arrayContaining(FLAGS));
    expect(argv.slice(argv.indexOf(link))).toEqual([link, 'run']);
  });

  it('the wrapper scripts/setup.sh installs', async () => {
    expectFlagged(await daemonArgv([await setupWrapper(), 'run']));
  });

  it('the systemd unit, through the wrapper at its ExecStart', async () => {
    const unit = await text('deploy/systemd/buttervolume.service');
    const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.split(' ');
    expect(exec?.[0]).toBe(INSTALLED);
    expectFlagged(await daemonArgv([await setupWrapper(), ...exec!.slice(1)]));
  });

  it("the wrapper deploy/README.md's printf writes", async () => {
    const readme = await text('deploy/README.md');
    const format = /^printf '([^']*)' "\$PWD" >\/usr\/local\/bin\/buttervolume$/m.exec(readme)?.[1];
    expect(format, "deploy/README.md's printf line").toBeDefined();
    const { stdout } = await execa('printf', ['--', format!, REPO], { stripFinalNewline: false });
    expectFlagged(await daemonArgv([await executable('readme-wrapper', stdout), 'run']));
  });
});
