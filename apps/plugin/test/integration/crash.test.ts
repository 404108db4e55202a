import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_STEPS, type RestoreStep } from '../../src/index.js';
import { createFixture, type Fixture, inProcess, overSocket } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

// What the volume must hold after recovery: before the restored copy is renamed into place the
// restore is rolled back (previous data), from then on it is finished (restored data).
const expected: Record<RestoreStep, 'previous' | 'restored'> = {
  backup: 'previous',
  journal: 'previous',
  staging: 'previous',
  aside: 'previous',
  'in-place': 'restored',
  'old-deleted': 'restored',
};

async function waitForSocket(
  path: string,
  child: { exitCode: number | null },
  stderr: () => string,
): Promise<void> {
  // Up to 60 s: starting node with tsx took over 20 s at a load of 24.
  for (let attempt = 0; attempt < 1200; attempt++) {
    if (child.exitCode !== null) {
      throw new Error(`daemon exited with ${child.exitCode} before listening: ${stderr()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(path);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`daemon did not listen on ${path}`);
}

describe('a daemon killed (SIGKILL) in the middle of a restore loses no data', () => {
  let fx: Fixture;
  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'mkfs.btrfs', 'losetup']);
    fx = await createFixture();
  });
  afterAll(async () => fx?.cleanup());

  it.each(RESTORE_STEPS)('killed right after step "%s"', async (step) => {
    const volume = `crash-${step}`;
    const setup = await inProcess(fx.config);
    await setup.call('/VolumeDriver.Create', { Name: volume });
    const file = join(fx.volumesPath, volume, 'data.txt');
    await writeFile(file, 'restored');
    const snapshot = (await setup.call('/VolumeDriver.Snapshot', { Name: volume })).json
      .Snapshot as string;
    await writeFile(file, 'previous');

    const child = execa(process.execPath, ['--import', 'tsx', MAIN], {
      env: {
        BUTTERVOLUME_VOLUMES_PATH: fx.config.volumesPath,
        BUTTERVOLUME_SNAPSHOTS_PATH: fx.config.snapshotsPath,
        BUTTERVOLUME_RUNPATH: fx.config.runPath,
        BUTTERVOLUME_SOCKET: fx.config.socket,
        BUTTERVOLUME_CONFIG_FILE: join(fx.fs.dir, 'no-config.ini'),
        BUTTERVOLUME_LOGLEVEL: 'WARNING',
        BUTTERVOLUME_TEST_CRASH_AFTER: step,
      },
      reject: false,
    });
    try {
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      await waitForSocket(fx.config.socket, child, () => stderr);
      await expect(
        overSocket(fx.config.socket)('/VolumeDriver.Snapshot.Restore', { Name: snapshot }),
      ).rejects.toThrow(/socket hang up|ECONNRESET/);
      const result = await child;
      expect(result.signal).toBe('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    const journal = join(fx.volumesPath, `.buttervolume-restore-${volume}.json`);
    const journalLeft = await lstat(journal).then(
      () => true,
      () => false,
    );
    expect(journalLeft).toBe(step !== 'backup');

    // The next start recovers before serving.
    const { call } = await inProcess(fx.config);
    const leftovers = (await readdir(fx.volumesPath)).filter((n) => n.startsWith('.'));
    expect(leftovers).toEqual([]);
    expect((await lstat(join(fx.volumesPath, volume))).ino).toBe(256);
    expect(await readFile(file, 'utf8')).toBe(expected[step]);
    const snapshots = (await call(`/VolumeDriver.Snapshot.List/${volume}`, undefined, 'GET')).json
      .Snapshots as string[];
    const backups = snapshots.filter((s) => s !== snapshot);
    expect(backups).toHaveLength(1);
    expect(await readFile(join(fx.snapshotsPath, backups[0]!, 'data.txt'), 'utf8')).toBe(
      'previous',
    );
    // The volume works: writable, and a new restore goes through.
    await writeFile(file, 'again');
    expect((await call('/VolumeDriver.Snapshot.Restore', { Name: snapshot })).json.Err).toBe('');
    expect(await readFile(file, 'utf8')).toBe('restored');
  });
});
