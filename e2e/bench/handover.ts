// Hand-over time of a replicated volume between two swarm nodes (namespaces with their own
// btrfs, sshd and daemon; see createSwarm): the Mount on the new node, from the request to
// the answer, for a 1 GiB volume with 10 MiB written since the last increment and with
// nothing written. Goals on a 2-core machine: < 5 s and < 1 s.
//   pnpm --filter @buttervolume/e2e exec tsx bench/handover.ts     (root; about a minute)
// BV_BENCH_KEEP=1 keeps the daemons' logs (the folder is printed).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSwarm, requireRealEnvironment, type SwarmNode } from '@buttervolume/test-utils';
import { median, NODE_SOCKET, swarmDaemons } from '../src/index.js';

requireRealEnvironment(['ip', 'nsenter', 'unshare', 'ssh', 'mkfs.btrfs', 'dockerd']);

const RUNS = Number(process.env.BV_BENCH_RUNS ?? 3);
const VOLUME = 'bench';

/** One plugin call from inside the node; the node-side script times only the request. */
async function call(node: SwarmNode, path: string, body: object): Promise<number> {
  const script = `
    const started = performance.now();
    const req = require('node:http').request(
      { socketPath: ${JSON.stringify(NODE_SOCKET)}, path: ${JSON.stringify(path)}, method: 'POST' },
      (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => {
        const a = JSON.parse(t); if (a.Err) { console.error(a.Err); process.exit(1); }
        console.log(performance.now() - started); }); });
    req.end(${JSON.stringify(JSON.stringify(body))});`;
  const r = await node.exec([process.execPath, '-e', script], { reject: false });
  if (r.exitCode !== 0) throw new Error(`${path} on ${node.name}: ${r.stderr.trim()}`);
  return Number(r.stdout.trim());
}

async function write(node: SwarmNode, root: string, file: string, mib: number): Promise<void> {
  await node.exec([
    'dd',
    'if=/dev/urandom',
    `of=${join(root, 'volumes', VOLUME, file)}`,
    'bs=1M',
    `count=${mib}`,
    'conv=fsync',
    'status=none',
  ]);
}

async function main() {
  const base = await mkdtemp(join(tmpdir(), 'bv-bench-handover-'));
  const root = join(base, 'bv');
  const swarm = await createSwarm({ size: 2, paths: [root], sizeMiB: 4096 });
  const daemons = await swarmDaemons(swarm, {
    root,
    dir: base,
    // Increments only when asked (the last Unmount), so each case starts from a known state;
    // no Docker API: every Mount is a real one.
    env: {
      BUTTERVOLUME_REPLICATION_PERIOD: '86400',
      BUTTERVOLUME_DOCKER_SOCKET: join(base, 'no-docker.sock'),
      BUTTERVOLUME_LOGLEVEL: 'INFO',
    },
  });
  try {
    const [a, b] = swarm.nodes as [SwarmNode, SwarmNode];
    for (const node of swarm.nodes) await daemons.start(node);
    const opts = { Name: VOLUME, Opts: { replicas: `${a.name},${b.name}` } };
    await call(a, '/VolumeDriver.Create', opts);
    await write(a, root, 'base', 1024);
    // The first increment (full, 1 GiB) goes when the last container unmounts.
    await call(a, '/VolumeDriver.Mount', { Name: VOLUME, ID: 'warm' });
    await call(a, '/VolumeDriver.Unmount', { Name: VOLUME, ID: 'warm' });
    await call(b, '/VolumeDriver.Create', opts);
    const received = async () =>
      (await b.exec(['ls', '--', join(root, 'snapshots')])).stdout.includes(`${VOLUME}@`);
    while (!(await received())) await sleep(200);
    await sleep(1000);

    const changed: number[] = [];
    const unchanged: number[] = [];
    let owner = a;
    let other = b;
    for (let i = 0; i < RUNS; i++) {
      // 10 MiB written on the owner since its last increment, then the other node mounts.
      await write(owner, root, `change-${i}`, 10);
      changed.push(await call(other, '/VolumeDriver.Mount', { Name: VOLUME, ID: `c${i}` }));
      // The figures count only if the data came along.
      await other.exec(['test', '-s', join(root, 'volumes', VOLUME, `change-${i}`)]);
      await call(other, '/VolumeDriver.Unmount', { Name: VOLUME, ID: `c${i}` });
      // That Unmount sends an increment at once: let it finish, as between two task moves.
      await sleep(3000);
      [owner, other] = [other, owner];
      // Nothing written: straight back.
      unchanged.push(await call(other, '/VolumeDriver.Mount', { Name: VOLUME, ID: `u${i}` }));
      await call(other, '/VolumeDriver.Unmount', { Name: VOLUME, ID: `u${i}` });
      await sleep(3000);
      [owner, other] = [other, owner];
    }
    const fmt = (ms: number[]) =>
      `median ${(median(ms) / 1000).toFixed(2)} s (runs: ${ms.map((m) => (m / 1000).toFixed(2)).join(', ')})`;
    console.log(`hand-over, 1 GiB volume, 10 MiB changed: ${fmt(changed)}   goal < 5 s`);
    console.log(`hand-over, 1 GiB volume, nothing changed: ${fmt(unchanged)}   goal < 1 s`);
    // The hand-over request goes to the owner's daemon socket through a unix socket the shared
    // ssh connection forwards: no ssh session nor CLI start on the owner per request.
  } finally {
    await daemons.stopAll();
    await swarm.cleanup();
    if (!process.env.BV_BENCH_KEEP) await rm(base, { recursive: true, force: true });
    else console.log(base);
  }
}

await main();
