import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeProcess, Swarm, SwarmNode } from '@buttervolume/test-utils';
import { requireBuiltCli } from './paths.js';

/** Where every node's daemon listens (each node has its own /run). */
export const NODE_SOCKET = '/run/docker/plugins/btrfs.sock';

export interface SwarmDaemonsOptions {
  /** The btrfs every node mounts (createSwarm's path): volumes, snapshots, schedule below it. */
  root: string;
  /** Folder for logs and the peers' CLI wrapper. */
  dir: string;
  /** Extra BUTTERVOLUME_* settings for every daemon. */
  env?: Record<string, string>;
}

/** The buttervolume daemon on each swarm node, and the CLI peers run over ssh. */
export interface SwarmDaemons {
  /** PEER_COMMAND: the CLI with no config file of the machine. */
  peerCommand: string;
  start(node: SwarmNode, env?: Record<string, string>): Promise<NodeProcess>;
  /** The running daemon of a node. */
  daemon(node: SwarmNode): NodeProcess | undefined;
  /** The CLI on a node, as a peer's daemon runs it. */
  cli(node: SwarmNode, args: readonly string[]): ReturnType<SwarmNode['exec']>;
  stopAll(): Promise<void>;
}

export async function swarmDaemons(
  swarm: Swarm,
  options: SwarmDaemonsOptions,
): Promise<SwarmDaemons> {
  const noConfig = join(options.dir, 'no-config.ini');
  const peerCommand = join(options.dir, 'buttervolume');
  await writeFile(
    peerCommand,
    `#!/bin/sh\nBUTTERVOLUME_CONFIG_FILE=${noConfig} exec ${process.execPath} ${requireBuiltCli()} "$@"\n`,
  );
  await chmod(peerCommand, 0o755);
  const daemons = new Map<string, NodeProcess>();
  const envOf = (node: SwarmNode): Record<string, string> => ({
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    BUTTERVOLUME_CONFIG_FILE: noConfig,
    BUTTERVOLUME_VOLUMES_PATH: join(options.root, 'volumes'),
    BUTTERVOLUME_SNAPSHOTS_PATH: join(options.root, 'snapshots'),
    BUTTERVOLUME_SCHEDULE: join(options.root, 'schedule.csv'),
    BUTTERVOLUME_SSH_IDENTITY_FILE: swarm.identityFile,
    BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: swarm.knownHostsFile,
    BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
    BUTTERVOLUME_PEER_COMMAND: peerCommand,
    BUTTERVOLUME_DOCKER_SOCKET: node.dockerd.socketPath,
    BUTTERVOLUME_LOGLEVEL: 'DEBUG',
    ...options.env,
  });
  return {
    peerCommand,
    async start(node, env = {}) {
      await node.exec(['rm', '-f', '--', NODE_SOCKET]);
      const daemon = node.spawn([process.execPath, requireBuiltCli(), 'run'], {
        logFile: join(options.dir, `daemon-${node.name}.log`),
        env: { ...envOf(node), ...env },
      });
      daemons.set(node.name, daemon);
      const deadline = Date.now() + 60_000;
      while ((await node.exec(['test', '-S', NODE_SOCKET], { reject: false })).exitCode !== 0) {
        if (daemon.exitCode !== null || Date.now() > deadline) {
          throw new Error(`the daemon on ${node.name} did not start (see daemon-${node.name}.log)`);
        }
        await sleep(100);
      }
      return daemon;
    },
    daemon: (node) => daemons.get(node.name),
    cli: (node, args) => node.exec([peerCommand, ...args], { reject: false }),
    async stopAll() {
      for (const daemon of daemons.values()) await daemon.kill('SIGKILL').catch(() => {});
    },
  };
}
