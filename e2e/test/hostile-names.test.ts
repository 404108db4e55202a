import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox']);

// Docker hands any name to a volume plugin (it validates names only for its own local
// driver): the daemon is the boundary, and must refuse without touching the disk.
let stack: Stack;
// Known when the cases are collected (before beforeAll), so the names below carry this path
// and not `undefined`: a name that ran its `touch` would leave exactly this file.
const canary = join(tmpdir(), `bv-e2e-pwned-${randomBytes(4).toString('hex')}`);
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

function hostileNames(): string[] {
  return [
    '../x',
    '../../etc',
    'a/b',
    '-rf',
    `$(touch ${canary})`,
    `x"; touch ${canary}; #`,
    "it's",
    'a'.repeat(300),
    '..',
    'vol@2026-01-01T00:00:00.000000',
    ' spaced',
    'tab\tname',
  ];
}

async function everythingOnDisk(): Promise<string[]> {
  const [root, volumes, snapshots] = await Promise.all([
    readdir(stack.fs.mountPoint),
    readdir(stack.volumesPath),
    readdir(stack.snapshotsPath),
  ]);
  return [
    ...root.map((n) => `/${n}`),
    ...volumes.map((n) => `volumes/${n}`),
    ...snapshots.map((n) => `snapshots/${n}`),
  ].sort();
}

describe('hostile volume names through docker', () => {
  it.each(hostileNames())(
    'docker volume create -d <driver> %j is refused, nothing created',
    async (name) => {
      const before = await everythingOnDisk();
      const result = await stack.docker(['volume', 'create', '-d', stack.driver, '--', name]);
      expect(result.exitCode).not.toBe(0);
      // The daemon's own message, passed through by docker.
      expect(result.stderr).toMatch(/Invalid volume name .*use 2 to 128 characters/);
      expect(await everythingOnDisk()).toEqual(before);
      expect(existsSync(canary)).toBe(false);
      const ls = await stack.docker(['volume', 'ls', '-q']);
      expect(ls.exitCode, ls.stderr).toBe(0);
      expect(ls.stdout.split('\n')).not.toContain(name);
    },
  );

  it.each(hostileNames().filter((n) => !n.includes(',') && !n.includes('"')))(
    'docker run --mount source=%j,volume-driver=<driver> is refused, nothing created',
    async (name) => {
      const before = await everythingOnDisk();
      const result = await stack.docker([
        'run',
        '--rm',
        '--network',
        'none',
        '--mount',
        `type=volume,source=${name},target=/data,volume-driver=${stack.driver}`,
        stack.image,
        'true',
      ]);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(/Invalid volume name/);
      expect(await everythingOnDisk()).toEqual(before);
      expect(existsSync(canary)).toBe(false);
    },
  );

  it.each([
    ['snapshot', '../x'],
    ['snapshot', `$(touch /tmp/bv-pwned-e2e)`],
    ['restore', 'a/b@2026-01-01T00:00:00.000000'],
    ['clone', 'fine-source', '../escape'],
    ['rm', "it's@2026-01-01T00:00:00.000000"],
  ])('buttervolume %s %j … is refused by the CLI, nothing created', async (...args) => {
    const before = await everythingOnDisk();
    const result = await stack.cli(args);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/invalid|Invalid/);
    expect(await everythingOnDisk()).toEqual(before);
    expect(existsSync('/tmp/bv-pwned-e2e')).toBe(false);
  });

  it('accepts an empty name as docker means it: a generated name, made a subvolume', async () => {
    const result = await stack.docker(['volume', 'create', '-d', stack.driver], { reject: true });
    const generated = result.stdout.trim();
    expect(generated).toMatch(/^[0-9a-f]{64}$/);
    expect(await readdir(stack.volumesPath)).toContain(generated);
  });

  it('still serves a valid volume after all that', async () => {
    await stack.docker(['volume', 'create', '-d', stack.driver, 'fine'], { reject: true });
    const result = await stack.docker(
      [
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        'fine:/data',
        stack.image,
        'sh',
        '-c',
        'echo ok > /data/f && cat /data/f',
      ],
      { reject: true },
    );
    expect(result.stdout.trim()).toBe('ok');
  });
});
