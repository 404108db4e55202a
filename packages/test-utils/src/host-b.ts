import { randomBytes, randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createNamespaceHost,
  type NsExecOptions,
  type NsExecResult,
  pickSubnet,
  sshArgs,
} from './netns-host.js';

/**
 * A second host for replication tests: its own network namespace (reached from this host over
 * a veth pair on a private /30), its own mount namespace in which fresh loop btrfs filesystems
 * are mounted at the very paths host A uses, and its own sshd accepting a generated root key.
 */
export interface HostB {
  /** B's IPv4 address on the veth (what ssh from A connects to). */
  address: string;
  /** A's IPv4 address on the same /30. */
  localAddress: string;
  /** Port sshd listens on inside B. */
  sshPort: number;
  /** Private key authorized for root on B. */
  identityFile: string;
  /** known_hosts file holding B's host key for `[address]:sshPort`. */
  knownHostsFile: string;
  /** Ready-made ssh arguments (`-F none -p … -i … -o …`) to reach B as root from A. */
  sshOptions: string[];
  /** The same settings as named fields, in the shape @buttervolume/replication's SshOptions takes. */
  ssh: HostBSsh;
  /** The paths B mounted its own btrfs on (as passed in). */
  paths: string[];
  /** Network namespace name (`ip netns`). */
  netns: string;
  /** Runs a command inside B's network and mount namespaces (nsenter, no shell). */
  exec(argv: readonly string[], options?: HostBExecOptions): Promise<HostBExecResult>;
  /** Stops sshd; by default also kills the sessions it is serving (B "goes away"). */
  stopSsh(options?: { keepSessions?: boolean }): Promise<void>;
  /** Starts sshd again (no-op when running) and waits until it accepts connections. */
  startSsh(): Promise<void>;
  /** `btrfs subvolume show` on B as `{ "UUID": …, "Parent UUID": … }`; undefined when nothing is there. */
  showSubvolume(path: string): Promise<Record<string, string> | undefined>;
  /** Fills B's filesystem at `path` (default: the first path) until ENOSPC; returns the filler file. */
  fillDisk(path?: string): Promise<string>;
  /**
   * Makes B a hostile or broken peer: every ssh session with A's key runs `executable` (an
   * absolute path, no arguments, e.g. a script the test wrote) instead of the command asked
   * for, as an authorized_keys `command=` does. Undefined restores the normal behaviour.
   * Takes effect for new connections (give the client `controlPersistSec: 0`).
   */
  forceCommand(executable: string | undefined): Promise<void>;
  /** Drops every packet from B to A (`ip route add blackhole`): B looks unreachable, no reset. */
  blackhole(on: boolean): Promise<void>;
  /** Kills B's processes, unmounts, detaches loops, deletes veth and netns, removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface HostBSsh {
  port: number;
  identityFile: string;
  knownHostsFile: string;
  strictHostKeyChecking: 'yes';
  configFile: 'none';
}

export interface HostBOptions {
  /** Absolute paths on which B mounts its own fresh btrfs (the same paths host A uses). */
  paths: readonly string[];
  /** Size of each of B's btrfs images in MiB (default 512, minimum 109). */
  sizeMiB?: number;
}

export type HostBExecOptions = NsExecOptions;
export type HostBExecResult = NsExecResult;

const DEFAULT_SIZE_MIB = 512;

/** Creates host B. Always pair with `cleanup()` in a finally/afterAll. */
export async function createHostB(options: HostBOptions): Promise<HostB> {
  const net = await pickSubnet(30);
  const sshPort = randomInt(20_000, 30_000);
  const host = await createNamespaceHost({
    label: `b-${randomBytes(4).toString('hex')}`,
    dirPrefix: 'bv-hostb-',
    paths: options.paths,
    sizeMiB: options.sizeMiB ?? DEFAULT_SIZE_MIB,
    link: { kind: 'root', localAddress: net.hosts[0]!, address: net.hosts[1]! },
    sshPort,
  });
  const { exec, paths } = host;

  const fillDisk = async (path: string = paths[0]!): Promise<string> => {
    if (!paths.includes(path)) throw new Error(`fillDisk: ${path} is not one of B's paths`);
    const filler = join(path, `bv-fill-${randomBytes(4).toString('hex')}`);
    // dd stops with ENOSPC, which is the point; then flush so free space is really gone.
    await exec(['dd', 'if=/dev/urandom', `of=${filler}`, 'bs=1M', 'status=none'], {
      reject: false,
    });
    await exec(['sync', '-f', filler], { reject: false });
    return filler;
  };

  const forceCommand = async (executable: string | undefined): Promise<void> => {
    const key = (await readFile(`${host.identityFile}.pub`, 'utf8')).trim();
    if (executable === undefined) {
      await writeFile(host.authorizedKeysFile, `${key}\n`);
      return;
    }
    // sshd hands the command to the user's shell: allow a plain absolute path only.
    if (!/^\/[A-Za-z0-9_./-]+$/.test(executable)) {
      throw new Error(`forceCommand: ${JSON.stringify(executable)} is not a plain absolute path`);
    }
    await writeFile(host.authorizedKeysFile, `command="${executable}" ${key}\n`);
  };

  const blackhole = async (on: boolean): Promise<void> => {
    const route = ['route', on ? 'replace' : 'del', 'blackhole', `${net.hosts[0]!}/32`];
    await exec(['ip', ...route], { reject: on });
  };

  const ssh: HostBSsh = {
    port: sshPort,
    identityFile: host.identityFile,
    knownHostsFile: host.knownHostsFile,
    strictHostKeyChecking: 'yes',
    configFile: 'none',
  };
  return {
    address: host.address,
    localAddress: net.hosts[0]!,
    sshPort,
    identityFile: host.identityFile,
    knownHostsFile: host.knownHostsFile,
    sshOptions: sshArgs(ssh),
    ssh,
    paths,
    netns: host.netns,
    exec,
    async showSubvolume(path) {
      const result = await exec(['btrfs', 'subvolume', 'show', '--', path], { reject: false });
      if (result.exitCode !== 0) return undefined;
      const fields: Record<string, string> = {};
      for (const match of result.stdout.matchAll(/^\s*([A-Za-z ]+):\s*(.*)$/gm)) {
        fields[match[1]!.trim()] = match[2]!.trim();
      }
      return fields;
    },
    stopSsh: host.stopSsh,
    startSsh: host.startSsh,
    fillDisk,
    forceCommand,
    blackhole,
    cleanup: host.cleanup,
  };
}

/** Runs `fn` with a fresh host B and always tears it down, also when `fn` throws. */
export async function withHostB<T>(
  fn: (host: HostB) => Promise<T> | T,
  options: HostBOptions,
): Promise<T> {
  const host = await createHostB(options);
  try {
    return await fn(host);
  } finally {
    await host.cleanup();
  }
}
