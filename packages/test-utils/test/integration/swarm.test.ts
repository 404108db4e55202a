import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRealEnvironment } from '../../src/environment.js';
import { createSwarm, type Swarm, type SwarmNode } from '../../src/swarm.js';
import { until } from '../../src/wait.js';

const PLUGIN = new URL('../fixtures/recording-plugin.mjs', import.meta.url).pathname;
const DRIVER = 'bvrec';

interface Call {
  t: number;
  node: string;
  call: string;
  name?: string;
  id?: string;
  using?: number;
}

function leftovers(swarm: Swarm, tag: string, dockerDirs: string[]) {
  const netns = execa('ip', ['netns', 'list']);
  const loops = execa('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
  return Promise.all([netns, loops]).then(([ns, lo]) => {
    return {
      netns: ns.stdout.split('\n').filter((l) => l.includes(tag)),
      loops: lo.stdout.split('\n').filter((l) => l.includes(swarm.dir) || l.includes(tag)),
      mounts: readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.includes(tag) || dockerDirs.some((d) => l.includes(d))),
    };
  });
}

describe('swarm fixture', () => {
  beforeAll(() =>
    requireRealEnvironment([
      'ip',
      'nsenter',
      'unshare',
      'ssh',
      'ssh-keygen',
      'mkfs.btrfs',
      'dockerd',
      'containerd',
    ]),
  );

  it('forms a 3-node swarm that runs a service with a legacy plugin on each node, moves it on drain, and tears down fully', async () => {
    const base = await mkdtemp(join(tmpdir(), 'bv-swt-'));
    const volumes = join(base, 'volumes');
    const swarm = await createSwarm({ size: 3, paths: [volumes], sizeMiB: 120 });
    const tag = swarm.dir.split('bv-swarm-')[1]!.slice(0, 6);
    const dockerDirs = swarm.nodes.map((n) => n.dockerd.dir);
    const callLog = join(swarm.dir, 'calls.log');
    try {
      const [manager, ...workers] = swarm.nodes as [SwarmNode, ...SwarmNode[]];
      for (const node of swarm.nodes) {
        await node.dockerd.importBusybox();
        node.spawn(
          [
            process.execPath,
            PLUGIN,
            `/run/docker/plugins/${DRIVER}.sock`,
            volumes,
            callLog,
            node.dockerd.socketPath,
          ],
          { logFile: join(swarm.dir, `plugin-${node.name}.log`) },
        );
        await until(`plugin socket on ${node.name}`, async () => {
          const r = await node.exec(['test', '-S', `/run/docker/plugins/${DRIVER}.sock`], {
            reject: false,
          });
          return r.exitCode === 0 ? true : undefined;
        });
      }
      // Nodes are apart: each has its own hostname, /run and btrfs, and reaches the others.
      const hostnames = await Promise.all(swarm.nodes.map((n) => n.exec(['hostname'])));
      expect(hostnames.map((h) => h.stdout.trim())).toEqual(['n1', 'n2', 'n3']);
      const ssh = await workers[0]!.exec(['ssh', ...swarm.sshOptions, 'root@n3', '--', 'hostname']);
      expect(ssh.stdout.trim()).toBe('n3');

      await swarm.form();
      const nodes = await manager.docker(['node', 'ls', '--format', '{{.Hostname}}']);
      expect(nodes.stdout.split('\n').sort()).toEqual(['n1', 'n2', 'n3']);

      const service = `bvsvc${randomBytes(2).toString('hex')}`;
      await swarm.createService({
        name: service,
        // A target that exists in the image, so Docker makes its copy-up Mount.
        mount: `type=volume,source=data,target=/etc,volume-driver=${DRIVER}`,
        command: ['sh', '-c', 'while true; do date >> /etc/ticks; sleep 0.2; done'],
      });
      const firstNode = await swarm.taskNode(service);
      const first = firstNode.name;
      // The task writes through the plugin into the node's own btrfs.
      await until('ticks on the first node', async () => {
        const r = await firstNode.exec(['cat', '--', join(volumes, 'data', 'ticks')], {
          reject: false,
        });
        return r.stdout.split('\n').length > 2 ? true : undefined;
      });

      const drainedAt = Date.now();
      await manager.docker(['node', 'update', '--availability', 'drain', first], { reject: true });
      const secondNode = await swarm.taskNode(service, { not: first });
      const second = secondNode.name;
      expect(second).not.toBe(first);
      await until('ticks on the second node', async () => {
        const r = await secondNode.exec(['cat', '--', join(volumes, 'data', 'ticks')], {
          reject: false,
        });
        return r.exitCode === 0 ? true : undefined;
      });

      // The order of driver calls during the move, as the daemon-side hand-over relies on it.
      const calls = (await readFile(callLog, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Call)
        .filter((c) => c.t >= drainedAt && c.name === 'data')
        .sort((a, b) => a.t - b.t);
      console.log(
        calls
          .map(
            (c) =>
              `${c.node} ${c.call.replace('VolumeDriver.', '')} ${c.id?.slice(0, 12) ?? ''} ${c.using ?? ''}`,
          )
          .join('\n'),
      );
      // Measured order (Docker 20.10): the new node creates the volume and makes the copy-up
      // Mount/Unmount pair (a random id, no container) while the old task still runs; the old
      // node unmounts; then the new node's real Mount comes with the new container's id.
      const unmountOld = calls.findLastIndex(
        (c) => c.node === first && c.call === 'VolumeDriver.Unmount',
      );
      const mountsNew = calls.filter((c) => c.node === second && c.call === 'VolumeDriver.Mount');
      const realMount = calls.findLastIndex(
        (c) => c.node === second && c.call === 'VolumeDriver.Mount',
      );
      expect(unmountOld).toBeGreaterThanOrEqual(0);
      expect(realMount).toBeGreaterThan(unmountOld);
      expect(mountsNew.length).toBe(2);
      const [copyUp, real] = mountsNew as [Call, Call];
      const createNew = calls.findIndex(
        (c) => c.node === second && c.call === 'VolumeDriver.Create',
      );
      expect(createNew).toBeGreaterThanOrEqual(0);
      expect(createNew).toBeLessThan(calls.indexOf(copyUp));
      expect(calls.indexOf(copyUp)).toBeLessThan(unmountOld);
      expect(
        calls.some(
          (c) => c.node === second && c.call === 'VolumeDriver.Unmount' && c.id === copyUp.id,
        ),
      ).toBe(true);
      // What tells them apart: the node's dockerd lists the container using the volume at both,
      // but its `create` event exists only at the real Mount (copy-up runs inside create).
      expect(copyUp.using).toBe(0);
      expect(real.using).toBe(1);

      await manager.docker(['service', 'rm', service], { reject: true });
    } finally {
      await swarm.cleanup();
      await rm(base, { recursive: true, force: true });
    }
    const left = await leftovers(swarm, tag, dockerDirs);
    expect(left).toEqual({ netns: [], loops: [], mounts: [] });
    const alive = (await execa('ps', ['-eo', 'args'])).stdout
      .split('\n')
      .filter((l) => dockerDirs.some((d) => l.includes(d)) || l.includes(swarm.dir));
    expect(alive).toEqual([]);
  }, 300_000);
});
