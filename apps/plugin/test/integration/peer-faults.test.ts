import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHostB,
  type HostB,
  requireRealEnvironment,
  untilNoProcessMentions,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, silentLogger, startDaemon } from '../../src/index.js';
import {
  type Caller,
  createFixture,
  type Fixture,
  overSocket,
  snapshotOfNewVolume,
} from './helpers.js';

const MiB = 1024 * 1024;

// The peer side of the fault suite through the daemon's socket: the client of a Send going
// away, and a peer flooding stderr, while Docker's calls keep being answered.
describe('Send and Sync when the client or the peer misbehaves (real host B, real socket)', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: Daemon;
  let call: Caller;
  let dir: string;

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'rsync', 'ip', 'nsenter']);
    dir = await mkdtemp(join(tmpdir(), 'bv-peer-'));
    fx = await createFixture(500);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 300 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    // Rate-limited sends take seconds: long enough to go away in the middle of one.
    daemon = await startDaemon(
      { ...fx.config, sshBandwidthLimit: 8 * MiB },
      { logger: silentLogger, ssh: { ...b.ssh, connectTimeoutSec: 3, controlPersistSec: 0 } },
    );
    call = overSocket(daemon.socketPath);
  });

  afterAll(async () => {
    await daemon?.close();
    await b?.cleanup();
    await fx?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const volumeWith = (name: string, sizeMiB: number) =>
    snapshotOfNewVolume(call, fx.volumesPath, name, sizeMiB);

  const transfers = async () =>
    (await call('/Buttervolume.Transfers', undefined, 'GET')).json.Transfers as {
      Bytes: number;
    }[];

  async function waitFor(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 600 && !(await check()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await check()).toBe(true);
  }

  async function leftovers(snapshot: string): Promise<{ onB: unknown; markers: string[] }> {
    return {
      onB: await b.showSubvolume(join(fx.snapshotsPath, snapshot)),
      markers: (await readdir(fx.snapshotsPath)).filter((n) => n.startsWith(`${snapshot}@`)),
    };
  }

  it('a Send whose client goes away (Ctrl-C) stops, cleans up on both hosts, and the next one works', async () => {
    const snapshot = await volumeWith('cancelme', 40);
    // The raw request, as the CLI sends it; destroyed like a process killed by Ctrl-C.
    const payload = JSON.stringify({ Name: snapshot, Host: b.address });
    const req = httpRequest({
      socketPath: daemon.socketPath,
      path: '/VolumeDriver.Snapshot.Send',
      method: 'POST',
      headers: { 'Content-Length': Buffer.byteLength(payload) },
    });
    req.on('error', () => {});
    req.end(payload);
    await waitFor(async () => (await transfers()).some((t) => t.Bytes > 2 * MiB));
    req.destroy();
    await waitFor(async () => (await transfers()).length === 0);
    // B's receiving session may start after the cancel (its ssh was on the way) and then
    // removes what it received itself: nothing may be left once it is over.
    await untilNoProcessMentions(join(fx.snapshotsPath, snapshot));

    const { stdout } = await execa('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(`send -- ${join(fx.snapshotsPath, snapshot)}`);
    expect(await leftovers(snapshot)).toEqual({ onB: undefined, markers: [] });
    // Docker's calls were answered throughout, and the next send goes through.
    expect((await call('/VolumeDriver.Get', { Name: 'cancelme' })).json.Err).toBe('');
    const again = await call('/VolumeDriver.Snapshot.Send', { Name: snapshot, Host: b.address });
    expect(again.json).toMatchObject({ Err: '', AlreadyPresent: false });
    expect((await leftovers(snapshot)).markers).toEqual([`${snapshot}@${b.address}`]);
  });

  it('a peer flooding 10 MB on stderr: Docker calls answered meanwhile, a short Err, nothing left', async () => {
    const garbage = join(dir, 'garbage');
    await writeFile(
      garbage,
      [
        `#!${process.execPath}`,
        "const chunk = Buffer.from('Load key '.repeat(7000));",
        'let left = 160;',
        'const next = () => {',
        '  while (left-- > 0) if (!process.stderr.write(chunk)) return process.stderr.once("drain", next);',
        '  setTimeout(() => process.exit(255), 1000);',
        '};',
        'next();',
      ].join('\n'),
      { mode: 0o755 },
    );
    const snapshot = await volumeWith('flooded', 2);
    await b.forceCommand(garbage);
    try {
      let sendDone = false;
      const send = call('/VolumeDriver.Snapshot.Send', { Name: snapshot, Host: b.address }).then(
        (res) => {
          sendDone = true;
          return res;
        },
      );
      await waitFor(async () => (await transfers()).length > 0);
      const get = await call('/VolumeDriver.Get', { Name: 'flooded' });
      expect(get.json.Err).toBe('');
      expect(sendDone).toBe(false);
      const { json } = await send;
      expect(json.Err).toMatch(/refused \(step: auth\)/);
      expect((json.Err as string).length).toBeLessThan(2000);
      const sync = await call('/VolumeDriver.Volume.Sync', {
        Volumes: ['flooded'],
        Hosts: [b.address],
      });
      expect((sync.json.Err as string).length).toBeLessThan(2500);
    } finally {
      await b.forceCommand(undefined);
    }
    expect(await leftovers(snapshot)).toEqual({ onB: undefined, markers: [] });
    const again = await call('/VolumeDriver.Snapshot.Send', { Name: snapshot, Host: b.address });
    expect(again.json).toMatchObject({ Err: '', AlreadyPresent: false });
  });
});
