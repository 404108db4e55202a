import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btrfs } from '@buttervolume/btrfs';
import { HostName, VolumeName } from '@buttervolume/names';
import { Replicator, sshSettings } from '@buttervolume/replication';
import { createHostB, type HostB, requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Daemon, silentLogger, startDaemon } from '../../src/index.js';
import { sshPeerLink } from '../../src/services/peers.js';
import { createFixture, type Fixture } from './helpers.js';

const CLI = join(import.meta.dirname, '..', '..', '..', 'cli', 'dist', 'bin.js');

// A peer's daemon reached from this node the way a hand-over asks it: through a unix socket the
// shared ssh connection to host B forwards (B's sshd connects to the daemon's socket, which B
// sees at the same path), or, when that forward does not answer, through the peer's CLI over ssh.
describe('peer requests over the forwarded ssh socket (real host B, real daemon)', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: Daemon;
  let replicator: Replicator;
  let dir: string;
  let host: HostName;
  const volume = VolumeName.parse('fwd');

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ip', 'nsenter']);
    dir = await mkdtemp(join(tmpdir(), 'bv-hB2-forward-'));
    await mkdir(join(dir, 'b'));
    fx = await createFixture(200);
    b = await createHostB({ paths: [join(dir, 'b')], sizeMiB: 120 });
    host = HostName.parse(b.address);
    daemon = await startDaemon(fx.config, { logger: silentLogger });
    replicator = new Replicator({
      btrfs: new Btrfs(),
      snapshotsPath: fx.snapshotsPath,
      volumesPath: fx.volumesPath,
      ssh: b.ssh,
    });
  });

  afterAll(async () => {
    await replicator?.close();
    await daemon?.close();
    await b?.cleanup();
    await fx?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function link(peerSocket: string) {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'DEBUG',
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    const peer = sshPeerLink({
      ssh: sshSettings(b.ssh),
      sshFor: (h) => replicator.sharedSsh(h),
      // The peer's CLI pointed at the daemon's socket, as PEER_COMMAND does on a real node.
      command: ['env', `BUTTERVOLUME_SOCKET=${fx.config.socket}`, process.execPath, CLI],
      viewTimeoutMs: 15_000,
      handOverTimeoutMs: 15_000,
      format: fx.config.dtFormat,
      forward: {
        socket: peerSocket,
        open: (h, s, o) => replicator.forwardSocket(h, s, o),
        logger,
      },
    });
    const said = (message: RegExp) => lines.filter((l) => message.test(String(l.msg)));
    return { peer, said };
  }

  it('asks the peer daemon through the forward, and sets the forward again after the connection ended', async () => {
    const { peer, said } = link(fx.config.socket);
    expect(await peer.view(host, volume)).toMatchObject({ state: 'none' });
    expect(said(/over the forwarded socket/)).toHaveLength(1);
    // The shared connection ends (idle, or killed): the stale forward is noticed and renewed.
    const ssh = await replicator.sharedSsh(host);
    await execa(ssh.sshPath, [...ssh.args, '-O', 'exit', '-l', ssh.user, '--', host]);
    expect(await peer.view(host, volume)).toMatchObject({ state: 'none' });
    expect(said(/over the forwarded socket/)).toHaveLength(2);
    expect(said(/running the peer CLI/)).toEqual([]);
  });

  it('falls back to the peer CLI over ssh, saying why, when the forward does not answer', async () => {
    // B's sshd cannot connect the forward to this path: every request through it is refused.
    const { peer, said } = link(join(dir, 'no-daemon.sock'));
    expect(await peer.view(host, volume)).toMatchObject({ state: 'none' });
    expect(said(/over the forwarded socket/)).toEqual([]);
    const [fallback] = said(/running the peer CLI/);
    expect(fallback?.level).toBe('WARNING');
    expect(String(fallback?.error ?? '')).not.toBe('');
  });
});
