import { randomBytes } from 'node:crypto';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { atExit, cleanupSteps, trySync } from './cleanup.js';
import {
  type DockerCallOptions,
  type Dockerd,
  type DockerResult,
  startDockerd,
} from './dockerd.js';
import {
  createNamespaceHost,
  makeKeyPair,
  type NamespaceHost,
  type NsExecOptions,
  type NsExecResult,
  pickSubnet,
  sshArgs,
} from './netns-host.js';

/**
 * A multi-node Docker Swarm on one machine: each node is a network namespace on a bridge
 * (itself in a namespace of its own), with a private mount and UTS namespace (own hostname,
 * own tmpfs `/run` and `/etc/docker`, so legacy plugin sockets and spec files are per node),
 * its own btrfs at the same paths, sshd on port 22 accepting one cluster key, and its own
 * dockerd. Nodes reach each other by address and by name (`n1`, `n2`, …).
 */
export interface Swarm {
  nodes: SwarmNode[];
  /** The key every node's sshd accepts (nodes use it to reach each other). */
  identityFile: string;
  /** known_hosts naming every node by name and address. */
  knownHostsFile: string;
  /** ssh arguments reaching any node as root, from the host or from a node. */
  sshOptions: string[];
  /** Private temp dir (logs, keys); removed by cleanup. */
  dir: string;
  /**
   * Makes the swarm: node 1 inits as the only manager, the others join as workers. Start the
   * nodes' legacy volume plugins first: a node offers a legacy plugin to the swarm scheduler
   * only once its dockerd has looked the plugin up, which form() makes each node do.
   */
  form(): Promise<void>;
  /**
   * Creates a one-task service on the workers, as this kernel allows (host network: no
   * ingress, no IPVS), from the image every node imported (`bv-busybox:latest`).
   */
  createService(options: ServiceOptions): Promise<void>;
  /** The node running the service's task once it runs (on another node than `not`). */
  taskNode(service: string, options?: { not?: string; timeoutMs?: number }): Promise<SwarmNode>;
  /** Leaves the swarm, stops every dockerd and process, removes namespaces, mounts, loops. */
  cleanup(): Promise<void>;
}

export interface ServiceOptions {
  name: string;
  /** `docker service create --mount` value (CSV: quote a field holding commas). */
  mount: string;
  command: readonly string[];
}

export interface SwarmNode {
  /** Hostname and swarm node name: `n1`, `n2`, … */
  name: string;
  address: string;
  dockerd: Dockerd;
  /** docker CLI against this node's dockerd. */
  docker(args: readonly string[], options?: DockerCallOptions): Promise<DockerResult>;
  /** Runs a command inside the node (its network, mount and UTS namespaces). */
  exec(argv: readonly string[], options?: NsExecOptions): Promise<NsExecResult>;
  /** Starts a long-running process inside the node, its output appended to `logFile`. */
  spawn(argv: readonly string[], options: SpawnOptions): NodeProcess;
  /** Cuts (false) or restores (true) the node's only link: a network partition. */
  setLink(up: boolean): Promise<void>;
  stopSsh(): Promise<void>;
  startSsh(): Promise<void>;
}

export interface SpawnOptions {
  logFile: string;
  env?: Record<string, string>;
}

export interface NodeProcess {
  pid: number;
  /** Sends a signal and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exitCode: number | null;
}

export interface SwarmOptions {
  /** Number of nodes (default 3). */
  size?: number;
  /** Absolute paths on which every node mounts its own fresh btrfs. */
  paths: readonly string[];
  /** Size of each node's btrfs images in MiB (default 256). */
  sizeMiB?: number;
}

const MANAGER = 0;

// Bridge namespaces still alive, so a worker that exits without its afterAll leaves none
// (the nodes' own namespaces have their hook in netns-host.ts).
const liveBridges = new Set<string>();
function removeLiveBridges(): void {
  for (const netns of liveBridges) trySync('ip', ['netns', 'del', netns]);
}

/** Creates the nodes (not yet a swarm: see form()). Always pair with cleanup(). */
export async function createSwarm(options: SwarmOptions): Promise<Swarm> {
  const size = options.size ?? 3;
  const tag = randomBytes(3).toString('hex');
  const dir = await realpath(await mkdtemp(join(tmpdir(), `bv-swarm-${tag}-`)));
  const identityFile = join(dir, 'id_ed25519');
  const knownHostsFile = join(dir, 'known_hosts');
  const hostsFile = join(dir, 'hosts');
  const bridgeNetns = `bv-sw${tag}`;
  const hosts: NamespaceHost[] = [];
  const nodes: SwarmNode[] = [];
  const processes: NodeProcess[] = [];
  let bridgeMade = false;

  let cleaning: Promise<void> | undefined;
  const teardown = async (): Promise<void> => {
    const { step, finish } = cleanupSteps();
    // Leaving first keeps dockerd from waiting on a swarm that is going away.
    for (const node of [...nodes].reverse()) {
      await step(() => node.docker(['swarm', 'leave', '--force']));
    }
    for (const node of nodes) await step(() => node.dockerd.stop());
    for (const child of processes) await step(() => child.kill('SIGKILL'));
    for (const host of hosts) await step(() => host.cleanup());
    if (bridgeMade) await step(() => execa('ip', ['netns', 'del', bridgeNetns]));
    liveBridges.delete(bridgeNetns);
    await step(() => rm(dir, { recursive: true, force: true }));
    finish('swarm');
  };
  const cleanup = (): Promise<void> => {
    cleaning ??= teardown();
    return cleaning;
  };

  try {
    const net = await pickSubnet(24);
    const prefix = 24;
    atExit(removeLiveBridges);
    await execa('ip', ['netns', 'add', bridgeNetns]);
    bridgeMade = true;
    liveBridges.add(bridgeNetns);
    await execa('ip', ['-n', bridgeNetns, 'link', 'add', 'br0', 'type', 'bridge']);
    await execa('ip', ['-n', bridgeNetns, 'link', 'set', 'br0', 'up']);
    await makeKeyPair(identityFile, 'bv-swarm');

    const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const addresses = names.map((_, i) => net.hosts[i + 1]!);
    await writeFile(
      hostsFile,
      `127.0.0.1 localhost\n${names.map((n, i) => `${addresses[i]} ${n}\n`).join('')}`,
    );
    for (const [i, name] of names.entries()) {
      const host = await createNamespaceHost({
        label: `${tag}${name}`,
        paths: options.paths,
        sizeMiB: options.sizeMiB ?? 256,
        link: {
          kind: 'bridge',
          netns: bridgeNetns,
          bridge: 'br0',
          address: addresses[i]!,
          prefix,
        },
        hostname: name,
        tmpfs: ['/run', '/etc/docker'],
        sshPort: 22,
        identityFile,
      });
      hosts.push(host);
      // Names resolve on every node (replica lists use them) without touching the host's file.
      await host.exec(['mount', '--bind', '--', hostsFile, '/etc/hosts']);
    }
    await writeFile(
      knownHostsFile,
      hosts
        .map((host, i) => {
          const key = host.knownHostsLine.split(' ').slice(1).join(' ');
          return `${names[i]},${host.address} ${key}\n`;
        })
        .join(''),
    );

    for (const [i, host] of hosts.entries()) {
      const dockerd = await startDockerd({
        prefix: ['nsenter', ...host.nsenterArgs([])],
        env: { DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' },
      });
      const node: SwarmNode = {
        name: names[i]!,
        address: host.address,
        dockerd,
        docker: dockerd.docker,
        exec: host.exec,
        spawn(argv, spawnOptions) {
          const child = execa('nsenter', host.nsenterArgs(argv), {
            reject: false,
            stdin: 'ignore',
            stdout: { file: spawnOptions.logFile, append: true },
            stderr: { file: spawnOptions.logFile, append: true },
            ...(spawnOptions.env !== undefined ? { env: spawnOptions.env } : {}),
          });
          if (child.pid === undefined) throw new Error(`could not start ${argv[0]} on ${names[i]}`);
          const handle: NodeProcess = {
            pid: child.pid,
            get exitCode() {
              return child.exitCode;
            },
            async kill(signal = 'SIGTERM') {
              if (child.exitCode === null) child.kill(signal);
              await child;
            },
          };
          processes.push(handle);
          return handle;
        },
        async setLink(up) {
          const link = `w${tag}${names[i]}`.slice(0, 15);
          await execa('ip', ['-n', host.netns, 'link', 'set', link, up ? 'up' : 'down']);
        },
        stopSsh: () => host.stopSsh(),
        startSsh: () => host.startSsh(),
      };
      nodes.push(node);
    }
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }

  return {
    nodes,
    identityFile,
    knownHostsFile,
    sshOptions: sshArgs({ port: 22, identityFile, knownHostsFile }),
    dir,
    async form() {
      for (const node of nodes) await node.docker(['volume', 'ls'], { reject: true });
      const manager = nodes[MANAGER]!;
      await manager.docker(
        [
          'swarm',
          'init',
          '--advertise-addr',
          manager.address,
          '--listen-addr',
          `${manager.address}:2377`,
        ],
        { reject: true },
      );
      const token = (
        await manager.docker(['swarm', 'join-token', '-q', 'worker'], { reject: true })
      ).stdout.trim();
      for (const node of nodes) {
        if (node === manager) continue;
        await node.docker(
          [
            'swarm',
            'join',
            '--advertise-addr',
            node.address,
            '--token',
            token,
            `${manager.address}:2377`,
          ],
          { reject: true },
        );
      }
      await waitFor(async () => {
        const ls = await manager.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']);
        return ls.stdout.split('\n').filter((l) => l.endsWith(' Ready')).length === nodes.length;
      }, `all ${nodes.length} nodes Ready`);
    },
    async createService(service) {
      await nodes[MANAGER]!.docker(
        [
          'service',
          'create',
          '--detach',
          '--name',
          service.name,
          '--no-resolve-image',
          '--init',
          '--stop-grace-period',
          '2s',
          '--network',
          'host',
          '--constraint',
          'node.role==worker',
          '--mount',
          service.mount,
          'bv-busybox:latest',
          ...service.command,
        ],
        { reject: true },
      );
    },
    async taskNode(service, options = {}) {
      let found: SwarmNode | undefined;
      await waitFor(
        async () => {
          const ps = await nodes[MANAGER]!.docker([
            'service',
            'ps',
            service,
            '--filter',
            'desired-state=running',
            '--format',
            '{{.Node}} {{.CurrentState}}',
          ]);
          const line = ps.stdout.split('\n').find((l) => / Running /.test(`${l} `));
          const name = line?.split(' ')[0];
          found = name === options.not ? undefined : nodes.find((n) => n.name === name);
          return found !== undefined;
        },
        `${service} running${options.not ? ` off ${options.not}` : ''}`,
        options.timeoutMs ?? 90_000,
      );
      return found!;
    },
    cleanup,
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`swarm: timed out waiting for ${what}`);
}
