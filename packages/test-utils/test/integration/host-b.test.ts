import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRealEnvironment } from '../../src/environment.js';
import { createHostB, type HostB } from '../../src/host-b.js';
import { createLoopBtrfs } from '../../src/loop-btrfs.js';

function sshB(host: HostB, remote: string[]) {
  return execa('ssh', [...host.sshOptions, `root@${host.address}`, '--', ...remote], {
    reject: false,
  });
}

async function expectGone(host: HostB, holderState: { images: string[] }): Promise<void> {
  const { stdout: netns } = await execa('ip', ['netns', 'list']);
  expect(netns).not.toContain(host.netns);
  const { stdout: links } = await execa('ip', ['-o', 'link', 'show']);
  expect(links).not.toContain(host.netns.replace('bv-b-', 'vb-'));
  // By backing file, not device name: another test may already have reused the freed device.
  const { stdout: loops } = await execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
  for (const image of holderState.images) expect(loops).not.toContain(image);
  expect(existsSync(host.identityFile)).toBe(false);
  const { stdout: addrs } = await execa('ip', ['-o', '-4', 'addr', 'show']);
  expect(addrs).not.toContain(`${host.localAddress}/30`);
}

describe('host B fixture', () => {
  beforeAll(() =>
    requireRealEnvironment(['ip', 'nsenter', 'unshare', 'ssh', 'ssh-keygen', 'mkfs.btrfs']),
  );

  it('runs ssh commands on B, which sees its own btrfs at the same path, and cleans up', async () => {
    const a = await createLoopBtrfs({ sizeMiB: 200 });
    let host: HostB | undefined;
    const images: string[] = [];
    try {
      await writeFile(join(a.mountPoint, 'on-a'), 'A');
      host = await createHostB({ paths: [a.mountPoint], sizeMiB: 200 });

      const ls = await sshB(host, ['ls', '-a', '--', a.mountPoint]);
      expect(ls.stderr).toBe('');
      expect(ls.exitCode).toBe(0);
      expect(ls.stdout.split('\n')).not.toContain('on-a');

      const fsType = await sshB(host, ['stat', '-f', '-c', '%T', '--', a.mountPoint]);
      expect(fsType.stdout.trim()).toBe('btrfs');
      // A different filesystem than A's: their UUIDs differ.
      const uuidOf = (out: string) => /uuid: (\S+)/.exec(out)?.[1];
      const onB = await sshB(host, ['btrfs', 'filesystem', 'show', '--', a.mountPoint]);
      const onA = await execa('btrfs', ['filesystem', 'show', '--', a.mountPoint]);
      expect(uuidOf(onB.stdout)).toBeDefined();
      expect(uuidOf(onB.stdout)).not.toBe(uuidOf(onA.stdout));

      // Writes on B land on B's disk, not A's.
      await sshB(host, ['touch', '--', join(a.mountPoint, 'on-b')]);
      expect(existsSync(join(a.mountPoint, 'on-b'))).toBe(false);
      const viaExec = await host.exec(['ls', '--', a.mountPoint]);
      expect(viaExec.stdout.split('\n')).toContain('on-b');

      // ip addr inside B shows B's address, not A's interfaces.
      const ipB = await host.exec(['ip', '-o', '-4', 'addr', 'show']);
      expect(ipB.stdout).toContain(host.address);
      expect(ipB.stdout).not.toContain(host.localAddress);

      // A still sees only its own device at the path: B's mount did not leak into A.
      const mounts = await readFile('/proc/self/mountinfo', 'utf8');
      const sources = mounts
        .split('\n')
        .filter((line) => line.split(' ')[4] === a.mountPoint)
        .map((line) => line.split(' - ')[1]?.split(' ')[1]);
      expect(sources).toEqual([a.device]);
      const { stdout: loops } = await execa('losetup', [
        '--list',
        '--noheadings',
        '-O',
        'NAME,BACK-FILE',
      ]);
      // Only this B's images (named after its netns): other tests may run their own B meanwhile.
      for (const line of loops.split('\n')) {
        if (line.includes(`/${host.netns}-`)) images.push(line.trim().split(/\s+/)[1]!);
      }
      expect(images.length).toBe(1);
    } finally {
      await host?.cleanup();
      await a.cleanup();
    }
    await expectGone(host!, { images });
  });

  it('stopSsh makes B unreachable with a connection error and startSsh brings it back', async () => {
    const a = await createLoopBtrfs({ sizeMiB: 200 });
    const host = await createHostB({ paths: [a.mountPoint], sizeMiB: 200 });
    try {
      expect((await sshB(host, ['true'])).exitCode).toBe(0);
      await host.stopSsh();
      const down = await sshB(host, ['true']);
      expect(down.exitCode).toBe(255);
      expect(down.stderr).toMatch(/connect to host .* port \d+: Connection refused/);
      await host.startSsh();
      expect((await sshB(host, ['true'])).exitCode).toBe(0);
    } finally {
      await host.cleanup();
      await a.cleanup();
    }
  });

  it('fillDisk leaves no room on B', async () => {
    const a = await createLoopBtrfs({ sizeMiB: 200 });
    const host = await createHostB({ paths: [a.mountPoint], sizeMiB: 200 });
    try {
      await host.fillDisk();
      const write = await host.exec(
        [
          'dd',
          'if=/dev/urandom',
          `of=${join(a.mountPoint, 'more')}`,
          'bs=1M',
          'count=8',
          'conv=fsync',
        ],
        { reject: false },
      );
      expect(write.exitCode).not.toBe(0);
      expect(write.stderr).toMatch(/No space left/);
    } finally {
      await host.cleanup();
      await a.cleanup();
    }
  });
});
