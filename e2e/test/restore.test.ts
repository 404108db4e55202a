import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox']);

// Snapshots and restores through the CLI while Docker uses the volumes, and a daemon that
// dies under running containers.
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

/** A container that keeps the volume mounted until removed. */
async function startSleeper(volume: string): Promise<string> {
  return stack.dockerOk([
    'run',
    '-d',
    '--network',
    'none',
    '-v',
    `${volume}:/data`,
    stack.image,
    'sleep',
    '3600',
  ]);
}

describe('snapshot and restore with the CLI', () => {
  it('brings back the snapshot data for the next container', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'r1']);
    await stack.dockerOk(stack.runArgs('r1', 'echo v1 > /data/f'));
    const snapshot = await stack.cliOk(['snapshot', 'r1']);
    expect(snapshot).toMatch(/^r1@/);
    expect((await stack.cliOk(['snapshots', 'r1'])).split('\n')).toContain(snapshot);

    const container = await startSleeper('r1');
    await stack.dockerOk(['exec', container, 'sh', '-c', 'echo v2 > /data/f']);
    await stack.dockerOk(['rm', '-f', container]);

    const restored = await stack.cliOk(['restore', snapshot]);
    expect(restored).toContain(snapshot);
    expect(await stack.dockerOk(stack.runArgs('r1', 'cat /data/f'))).toBe('v1');
    expect(await readFile(join(stack.volumesPath, 'r1', 'f'), 'utf8')).toBe('v1\n');

    // The content replaced by the restore is kept as a snapshot of its own.
    const snapshots = (await stack.cliOk(['snapshots', 'r1'])).split('\n');
    expect(snapshots).toHaveLength(2);
    const backup = snapshots.find((name) => name !== snapshot)!;
    expect(await readFile(join(stack.snapshotsPath, backup, 'f'), 'utf8')).toBe('v2\n');
  });

  it('refuses to restore a volume a running container uses, then restores with --force', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'r2']);
    await stack.dockerOk(stack.runArgs('r2', 'echo old > /data/f'));
    const snapshot = await stack.cliOk(['snapshot', 'r2']);
    const container = await startSleeper('r2');
    try {
      await stack.dockerOk(['exec', container, 'sh', '-c', 'echo new > /data/f']);
      const refused = await stack.cli(['restore', snapshot]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /r2 is mounted by 1 container\(s\).*stop them first or pass Force/,
      );
      expect(await readFile(join(stack.volumesPath, 'r2', 'f'), 'utf8')).toBe('new\n');
      expect((await stack.cliOk(['snapshots', 'r2'])).split('\n')).toEqual([snapshot]);

      await stack.cliOk(['restore', '--force', snapshot]);
      expect(await readFile(join(stack.volumesPath, 'r2', 'f'), 'utf8')).toBe('old\n');
    } finally {
      await stack.dockerOk(['rm', '-f', container]);
    }
    expect(await stack.dockerOk(stack.runArgs('r2', 'cat /data/f'))).toBe('old');
  });
});

describe('the daemon restarted under running containers', () => {
  it('keeps the containers working, docker reconnects, and the mounts are still known', async () => {
    await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'r3']);
    await stack.dockerOk(stack.runArgs('r3', 'echo before > /data/f'));
    const snapshot = await stack.cliOk(['snapshot', 'r3']);
    const container = await startSleeper('r3');
    try {
      const killed = stack.daemon.pid;
      await stack.restartDaemon('SIGKILL');
      expect(stack.daemon.pid).not.toBe(killed);

      // The container's bind mount does not depend on the daemon.
      await stack.dockerOk(['exec', container, 'sh', '-c', 'echo during >> /data/f']);
      expect(await readFile(join(stack.volumesPath, 'r3', 'f'), 'utf8')).toBe('before\nduring\n');

      // Docker talks to the new daemon on the same socket.
      expect(
        (await stack.dockerOk(['volume', 'ls', '--format', '{{.Name}}'])).split('\n'),
      ).toContain('r3');
      expect(await stack.dockerOk(stack.runArgs('r3', 'cat /data/f'))).toBe('before\nduring');
      await stack.dockerOk(['volume', 'create', '-d', stack.driver, 'r3-after']);
      expect(
        await stack.dockerOk(stack.runArgs('r3-after', 'echo ok > /data/f && cat /data/f')),
      ).toBe('ok');

      // The restarted daemon still knows the running container's mount.
      const refused = await stack.cli(['restore', snapshot]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/r3 is mounted by 1 container\(s\)/);
    } finally {
      await stack.dockerOk(['rm', '-f', container]);
    }
    // Docker's Unmount reached the new daemon: no container left, so no refusal.
    await stack.cliOk(['restore', snapshot]);
    expect(await stack.dockerOk(stack.runArgs('r3', 'cat /data/f'))).toBe('before');
  });
});
