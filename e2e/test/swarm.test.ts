// Replicated volumes on a real 3-node Docker Swarm (nodes are network namespaces with their
// own dockerd, sshd and btrfs; see @buttervolume/test-utils' createSwarm). The buttervolume
// daemon runs on every node as the legacy plugin `btrfs`; peers reach each other's daemon
// through the CLI over ssh, as on real machines.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createSwarm,
  requireRealEnvironment,
  type Swarm,
  type SwarmNode,
  until,
} from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_SOCKET, type SwarmDaemons, swarmDaemons } from '../src/swarm-daemons.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The README's stack file: the yaml block under "### A stack file". */
async function readmeStackFile(): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n### A stack file\n'));
  const yaml = /\n```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (yaml === undefined) throw new Error('README: no yaml block under "### A stack file"');
  return yaml;
}

let swarm: Swarm;
let base: string;
let root: string;
let daemons: SwarmDaemons;

/** The CLI on a node, as a peer's daemon runs it. */
function cli(node: SwarmNode, args: readonly string[]) {
  return daemons.cli(node, args);
}

async function replicaView(node: SwarmNode, volume: string) {
  const r = await cli(node, ['replica', '--json', '--', volume]);
  return JSON.parse(r.stdout) as {
    State: string;
    Owner: string;
    Epoch: number;
    Replicas: string[];
    Err: string;
  };
}

/** Names in `node`'s SNAPSHOTS_PATH. */
async function snapshotsOn(node: SwarmNode): Promise<string[]> {
  return (await node.exec(['ls', '--', join(root, 'snapshots')])).stdout
    .split('\n')
    .filter(Boolean);
}

/** A throwaway container on `node` mounting `volume` at /data: the Mount that moves a volume. */
function runWith(
  node: SwarmNode,
  volume: string,
  command: readonly string[],
  options?: Parameters<SwarmNode['docker']>[1],
) {
  return node.docker(
    ['run', '--rm', '-v', `${volume}:/data`, 'bv-busybox:latest', ...command],
    options,
  );
}

/** Until `node`'s daemon log, past its first `from` characters, shows a hand-over waiting. */
async function handOverWaiting(node: SwarmNode, from = 0): Promise<void> {
  await until(`the hand-over waiting on ${node.name}`, async () => {
    const log = (await readFile(join(base, `daemon-${node.name}.log`), 'utf8')).slice(from);
    return log.includes('hand-over waits for containers') ? true : undefined;
  });
}

async function readCounter(node: SwarmNode, volume: string): Promise<number[]> {
  const r = await node.exec(['cat', '--', join(root, 'volumes', volume, 'acked')], {
    reject: false,
  });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l));
}

describe('replicated volumes on a 3-node swarm', () => {
  beforeAll(async () => {
    requireRealEnvironment(['ip', 'nsenter', 'unshare', 'ssh', 'mkfs.btrfs', 'dockerd', 'curl']);
    base = await mkdtemp(join(tmpdir(), 'bv-e2e-swarm-'));
    root = join(base, 'bv');
    swarm = await createSwarm({ size: 3, paths: [root], sizeMiB: 300 });
    daemons = await swarmDaemons(swarm, {
      root,
      dir: base,
      env: { BUTTERVOLUME_REPLICATION_PERIOD: '2', BUTTERVOLUME_HANDOVER_WAIT: '20' },
    });
    for (const node of swarm.nodes) {
      await node.dockerd.importBusybox();
      await daemons.start(node);
    }
    await swarm.form();
  });

  afterAll(async () => {
    await daemons?.stopAll();
    await swarm?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('refuses bad replica sets at Create, with nothing created', async () => {
    const node = swarm.nodes[1]!;
    const cases: [string[], RegExp][] = [
      [['-o', 'replicas=n2'], /names only this node/],
      [['-o', 'replicas=n3,n3'], /listed twice/],
      [['-o', 'replicas=$(touch /tmp/p)'], /is not a host/],
      [['-o', 'replicas=-oProxyCommand=x'], /is not a host/],
      [['-o', 'replicas=n3', '-o', 'failover=maybe'], /failover/],
      [
        ['-o', `replicas=${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}`],
        /255 characters/,
      ],
    ];
    for (const [opts, message] of cases) {
      const name = `bad${randomBytes(2).toString('hex')}`;
      const r = await node.docker(['volume', 'create', '-d', 'btrfs', ...opts, name]);
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(message);
      const ls = await node.exec(['ls', '-A', '--', join(root, 'volumes')]);
      expect(ls.stdout).not.toContain(name);
    }
  });

  it('moves a counter service across a drain and back with every acknowledged write', async () => {
    const [manager] = swarm.nodes as [SwarmNode];
    const volume = 'counter';
    const service = 'counter';
    await swarm.createService({
      name: service,
      // --mount is CSV: a value holding a comma is quoted.
      // Every node in the set: whichever two the task visits, a third holds a copy.
      mount: `type=volume,source=${volume},target=/data,volume-driver=btrfs,"volume-opt=replicas=n1,n2,n3"`,
      // One line per acknowledged write, each fsync'ed before the next.
      command: [
        'sh',
        '-c',
        'i=$(tail -n1 /data/acked 2>/dev/null || echo 0); while true; do i=$((i+1)); echo $i >> /data/acked; sync; sleep 0.1; done',
      ],
    });
    const firstNode = await swarm.taskNode(service);
    const first = firstNode.name;
    await until('writes on the first node', async () =>
      (await readCounter(firstNode, volume)).length > 10 ? true : undefined,
    );
    expect((await replicaView(firstNode, volume)).State).toBe('owner');

    await manager.docker(['node', 'update', '--availability', 'drain', first], { reject: true });
    const secondNode = await swarm.taskNode(service, { not: first });
    const second = secondNode.name;
    const acked = await until('writes continuing on the second node', async () => {
      const values = await readCounter(secondNode, volume);
      return values.length > 0 && (await replicaView(secondNode, volume)).State === 'owner'
        ? values
        : undefined;
    });
    // Every write is there, once, in order: 1, 2, 3, … across the move.
    expect(acked).toEqual(acked.map((_, i) => i + 1));
    const view = await replicaView(secondNode, volume);
    expect(view).toMatchObject({ State: 'owner', Epoch: 2 });
    expect(await replicaView(firstNode, volume)).toMatchObject({ State: 'replica', Owner: second });
    const inspect = await secondNode.docker(['volume', 'inspect', volume], { reject: true });
    expect(inspect.stdout).toMatch(/"Epoch": 2/);
    // The new owner's first send to the third node is incremental: from the snapshot the old
    // owner last sent there, which the hand-over named and this node holds too.
    const third = swarm.nodes.find((n) => n.name !== first && n.name !== second)!.name;
    const firstSendToThird = await until('the new owner sending to the third node', async () => {
      const log = await readFile(join(base, `daemon-${second}.log`), 'utf8');
      const took = log.indexOf('"replica.takeover"');
      return log
        .slice(took)
        .split('\n')
        .filter((l) => l.includes('"send.completed"') && l.includes(`"host":"${third}"`))
        .map((l) => JSON.parse(l) as { incremental: boolean; bytes: number })[0];
    });
    expect(firstSendToThird).toMatchObject({ incremental: true });

    // Drain back.
    await manager.docker(['node', 'update', '--availability', 'active', first], { reject: true });
    await manager.docker(['node', 'update', '--availability', 'drain', second], { reject: true });
    await swarm.taskNode(service, { not: second });
    const back = await until('writes back on the first node', async () => {
      const values = await readCounter(firstNode, volume);
      return values.length > acked.length && (await replicaView(firstNode, volume)).Epoch === 3
        ? values
        : undefined;
    });
    expect(back).toEqual(back.map((_, i) => i + 1));
    await manager.docker(['service', 'rm', service], { reject: true });
    await manager.docker(['node', 'update', '--availability', 'active', second], { reject: true });
  });

  it('survives a kill -9 of the owner daemon mid hand-over, waiting and during the send: the Mount fails clearly, one owner, the next Mount succeeds', async () => {
    const [, n2, n3] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    const volume = 'killed';
    const opts = ['-o', 'replicas=n2,n3'];
    await n2.docker(['volume', 'create', '-d', 'btrfs', ...opts, volume], { reject: true });
    await n3.docker(['volume', 'create', '-d', 'btrfs', ...opts, volume], { reject: true });
    // A container on the owner keeps the hand-over waiting (HANDOVER_WAIT is 20 s).
    await n2.docker(
      [
        'run',
        '-d',
        '--name',
        'holder',
        '-v',
        `${volume}:/data`,
        'bv-busybox:latest',
        'sh',
        '-c',
        'echo kept > /data/f; sync; sleep 600',
      ],
      { reject: true },
    );
    const mount = runWith(n3, volume, ['cat', '/data/f']);
    await handOverWaiting(n2);
    await daemons.daemon(n2)!.kill('SIGKILL');
    const failed = await mount;
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toMatch(/n2/);
    // No split brain: n2 still owns it (epoch 1), n3 did not take it.
    await daemons.start(n2);
    expect(await replicaView(n2, volume)).toMatchObject({ State: 'owner', Epoch: 1 });
    expect(await replicaView(n3, volume)).toMatchObject({ State: 'replica', Owner: 'n2' });
    await n2.docker(['rm', '-f', 'holder'], { reject: true });
    const next = await runWith(n3, volume, ['cat', '/data/f'], { reject: true });
    expect(next.stdout.trim()).toBe('kept');
    expect(await replicaView(n3, volume)).toMatchObject({ State: 'owner', Epoch: 2 });
    expect(await replicaView(n2, volume)).toMatchObject({ State: 'replica', Owner: 'n3' });

    // Killed during the send itself: n3 (the owner now) sends its final increment at 1 MB/s,
    // and no periodic increment gets in first.
    await daemons.daemon(n3)!.kill('SIGTERM');
    await daemons.start(n3, {
      BUTTERVOLUME_SSH_BANDWIDTH_LIMIT: '1M',
      BUTTERVOLUME_REPLICATION_PERIOD: '86400',
    });
    await n3.docker(
      [
        'run',
        '-d',
        '--name',
        'holder2',
        '-v',
        `${volume}:/data`,
        'bv-busybox:latest',
        'sh',
        '-c',
        'dd if=/dev/urandom of=/data/big bs=1M count=20; sync; touch /data/written; sleep 600',
      ],
      { reject: true },
    );
    await until('the data written on n3', async () =>
      (await n3.exec(['test', '-e', join(root, 'volumes', volume, 'written')], { reject: false }))
        .exitCode === 0
        ? true
        : undefined,
    );
    const listed = async () =>
      (await n2.exec(['ls', '--', join(root, 'snapshots')])).stdout.split('\n').filter(Boolean);
    const before = new Set(await listed());
    const logBefore = (await readFile(join(base, 'daemon-n3.log'), 'utf8')).length;
    const moving = runWith(n2, volume, ['cat', '/data/f']);
    await handOverWaiting(n3, logBefore);
    await n3.docker(['rm', '-f', 'holder2'], { reject: true });
    // The receive has begun on n2 (its target exists) while n3 still sends: kill n3 then.
    await until('the final increment arriving on n2', async () =>
      (await listed()).some((name) => !before.has(name) && name.startsWith(`${volume}@`))
        ? true
        : undefined,
    );
    await daemons.daemon(n3)!.kill('SIGKILL');
    const cut = await moving;
    expect(cut.exitCode).not.toBe(0);
    expect(cut.stderr).toMatch(/n3/);
    // Still one owner: n3 (epoch 2), whose record never changed; n2 did not take it.
    await daemons.start(n3);
    expect(await replicaView(n3, volume)).toMatchObject({ State: 'owner', Epoch: 2 });
    expect(await replicaView(n2, volume)).toMatchObject({ State: 'replica', Owner: 'n3' });
    const after = await runWith(n2, volume, ['wc', '-c', '/data/big'], { reject: true });
    expect(after.stdout.trim()).toMatch(/^20971520 /);
    expect(await replicaView(n2, volume)).toMatchObject({ State: 'owner', Epoch: 3 });
    expect(await replicaView(n3, volume)).toMatchObject({ State: 'replica', Owner: 'n2' });
  });

  it('changes a replica set only explicitly, on the owner: an added node gets a copy, a removed one keeps its own, bad changes leave it as it was', async () => {
    const [n1, n2, n3] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    const volume = 'reset';
    await n1.docker(['volume', 'create', '-d', 'btrfs', '-o', 'replicas=n1,n2', volume], {
      reject: true,
    });
    await n1.docker(['volume', 'create', '-d', 'btrfs', 'plainv'], { reject: true });
    expect((await runWith(n1, volume, ['sh', '-c', 'echo one > /data/f'])).exitCode).toBe(0);
    // The Unmount's increment reaches n2.
    await until('an increment on n2', async () =>
      (await snapshotsOn(n2)).some((n) => n.startsWith(`${volume}@`)) ? true : undefined,
    );
    await n2.docker(['volume', 'create', '-d', 'btrfs', '-o', 'replicas=n1,n2', volume], {
      reject: true,
    });
    // The daemon's refusals (the CLI's own, exit 2, are in apps/cli's tests).
    const refusals: [SwarmNode, string[], number, RegExp][] = [
      [n1, ['--add', 'n2'], 1, /n2 is already a replica of reset/],
      [n1, ['--remove', 'n3'], 1, /n3 is not a replica of reset/],
      [n1, ['--remove', 'n1'], 1, /n1 is this node, which owns reset: hand the volume over/],
      [n1, ['--set', 'n1'], 1, /names only this node/],
      [n1, ['--set', 'n3,N3'], 1, /listed twice/],
      [
        n2,
        ['--add', 'n3'],
        1,
        /owned by n1 \(epoch 1\), not by this node: change its replica set there/,
      ],
    ];
    for (const [node, args, code, message] of refusals) {
      const r = await cli(node, ['replica', ...args, '--', volume]);
      expect(r.exitCode, args.join(' ')).toBe(code);
      expect(r.stderr).toMatch(message);
    }
    const plain = await cli(n1, ['replica', '--add', 'n2', '--', 'plainv']);
    expect(plain.stderr).toMatch(
      /plainv is not a replicated volume: its replica set cannot change/,
    );
    expect(await replicaView(n1, volume)).toMatchObject({ Replicas: ['n1', 'n2'], Epoch: 1 });
    // Nothing made a record for them.
    const hidden = await n1.exec(['ls', '-A', '--', join(root, 'volumes')]);
    expect(hidden.stdout).not.toMatch(/replica-plainv\.json/);
    expect(hidden.stdout).toMatch(/replica-reset\.json/);

    const changed = await cli(n1, ['replica', '--json', '--add', 'n3', '--remove', 'n2', volume]);
    expect(JSON.parse(changed.stdout)).toMatchObject({
      Replicas: ['n1', 'n3'],
      Added: ['n3'],
      Removed: ['n2'],
      Err: '',
    });
    // Sends are serialised with the change: from its answer on, n2 is no longer sent to and
    // keeps what it had; the increment the change starts goes to n3 only.
    const ofVolume = (names: string[]) => names.filter((n) => n.startsWith(`${volume}@`));
    const n2Kept = ofVolume(await snapshotsOn(n2));
    expect(n2Kept.length).toBeGreaterThan(0);
    await until('a copy on n3', async () =>
      ofVolume(await snapshotsOn(n3)).length >= 1 ? true : undefined,
    );
    expect(ofVolume(await snapshotsOn(n2))).toEqual(n2Kept);
    expect(await replicaView(n2, volume)).toMatchObject({ State: 'replica', Owner: 'n1' });
    // Docker sends Create only for a volume it does not know (a node that never had it, or
    // whose Docker lost it): there, the new set is taken from the owner, and no other.
    const create = async (node: SwarmNode, replicas: string) => {
      const body = JSON.stringify({ Name: volume, Opts: { replicas } });
      const url = 'http://plugin/VolumeDriver.Create';
      const r = await node.exec(['curl', '-sS', '--unix-socket', NODE_SOCKET, '-d', body, url]);
      return (JSON.parse(r.stdout) as { Err: string }).Err;
    };
    expect(await create(n2, 'n1,n2,n3')).toMatch(
      /already replicated to n1,n2 .*change the set on its owner with buttervolume replica --set/,
    );
    expect(await create(n2, 'n1,n3')).toBe('');
    expect(await replicaView(n2, volume)).toMatchObject({
      State: 'replica',
      Replicas: ['n1', 'n3'],
    });
    await n3.docker(['volume', 'create', '-d', 'btrfs', '-o', 'replicas=n1,n3', volume], {
      reject: true,
    });
    // The set travels with ownership: n3 takes over and sends to n1, not to n2.
    const moved = await runWith(n3, volume, ['cat', '/data/f'], { reject: true });
    expect(moved.stdout.trim()).toBe('one');
    expect(await replicaView(n3, volume)).toMatchObject({
      State: 'owner',
      Epoch: 2,
      Replicas: ['n1', 'n3'],
    });
  });

  it('refuses a Mount while the owner is cut off unless failover=newest; after healing the old copy is set aside', async () => {
    const [, n2, n3] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    const run = (node: SwarmNode, volume: string, script: string) =>
      runWith(node, volume, ['sh', '-c', script]);
    for (const [volume, policy] of [
      ['cut', 'refuse'],
      ['moved', 'newest'],
    ] as const) {
      const opts = ['-o', 'replicas=n2,n3', '-o', `failover=${policy}`];
      await n2.docker(['volume', 'create', '-d', 'btrfs', ...opts, volume], { reject: true });
      // The write's Unmount sends an increment to n3 at once.
      expect((await run(n2, volume, 'echo one > /data/f')).exitCode).toBe(0);
      await until(`an increment of ${volume} on n3`, async () => {
        const ls = await n3.exec(['ls', '--', join(root, 'snapshots')]);
        return ls.stdout.includes(`${volume}@`) ? true : undefined;
      });
      await n3.docker(['volume', 'create', '-d', 'btrfs', ...opts, volume], { reject: true });
    }
    await n2.setLink(false);
    try {
      const refused = await run(n3, 'cut', 'cat /data/f');
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/cut is owned by n2, which cannot be reached/);
      const moved = await run(n3, 'moved', 'cat /data/f');
      expect(moved.stdout.trim()).toBe('one');
      const inspect = await n3.docker(['volume', 'inspect', 'moved'], { reject: true });
      expect(inspect.stdout).toMatch(/"DataAgeSeconds": \d+/);
      expect(await replicaView(n3, 'moved')).toMatchObject({ State: 'owner', Epoch: 2 });
    } finally {
      await n2.setLink(true);
    }
    // n2's next increment pass asks n3 first, finds epoch 2 and sets its own copy aside.
    await until('the stale copy set aside on n2', async () => {
      const view = await replicaView(n2, 'moved');
      return view.State === 'replica' && view.Epoch === 2 ? true : undefined;
    });
    const ls = await n2.exec(['ls', '-A', '--', join(root, 'volumes')]);
    expect(ls.stdout).toMatch(/^\.stale-moved-epoch1-\d+$/m);
    const inspect = await n2.docker(['volume', 'inspect', 'moved'], { reject: true });
    expect(inspect.stdout).toMatch(/StaleCopiesSetAside/);
    // The refused volume never moved: n2 still owns it.
    expect(await replicaView(n2, 'cut')).toMatchObject({ State: 'owner', Epoch: 1 });
  });

  it("deploys the README's stack file: the service runs on the labelled node with its replicated volume", async () => {
    const [manager, , n3] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    const readmeYaml = await readmeStackFile();
    // The nodes are n1..n3 here, and postgres:16 is a stand-in made from busybox that sleeps.
    const yaml = readmeYaml.replaceAll('node1,node2,node3', 'n1,n2,n3');
    expect(yaml).toMatch(/replicas: n1,n2,n3/);
    const stack = join(base, 'stack.yml');
    await writeFile(stack, yaml);
    await n3.docker(['create', '--name', 'stand-in', 'bv-busybox:latest'], { reject: true });
    await n3.docker(['commit', '--change', 'CMD ["sleep", "600"]', 'stand-in', 'postgres:16'], {
      reject: true,
    });
    await n3.docker(['rm', 'stand-in'], { reject: true });
    await manager.docker(['node', 'update', '--label-add', 'pgdata=yes', n3.name], {
      reject: true,
    });
    await manager.docker(['stack', 'deploy', '--resolve-image', 'never', '-c', stack, 'app'], {
      reject: true,
    });
    const node = await swarm.taskNode('app_db');
    expect(node.name).toBe(n3.name);
    // The stack prefixes the volume with its name; the node that runs the task owns it.
    expect(await replicaView(n3, 'app_pgdata')).toMatchObject({
      State: 'owner',
      Replicas: ['n1', 'n2', 'n3'],
    });
    await manager.docker(['stack', 'rm', 'app'], { reject: true });
  });
});
