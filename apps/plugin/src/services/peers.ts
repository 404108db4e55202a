import { lookup } from 'node:dns/promises';
import { hostname, networkInterfaces } from 'node:os';
import { ButtervolumeClient, DaemonError, DaemonTimeoutError } from '@buttervolume/api';
import type { DockerClient } from '@buttervolume/docker';
import { HostName, SnapshotName, type VolumeName } from '@buttervolume/names';
import { type SshSettings, sshArgv } from '@buttervolume/replication';
import { runCommand } from '@buttervolume/spawner';
import { PluginError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  type HandOverAnswer,
  type MountProbe,
  type NodeIdentity,
  NotOwnerError,
  type PeerLink,
  PeerUnreachableError,
  type PeerView,
} from './replicas.js';

export interface SshPeerOptions {
  ssh: SshSettings;
  /**
   * ssh settings per host sharing the connection that sends to it use (Replicator.sharedSsh),
   * so a hand-over request and the data pay for one handshake; default: `ssh` as is.
   */
  sshFor?: (host: HostName) => Promise<SshSettings>;
  /** The buttervolume CLI on the peers (PEER_COMMAND), as an argument array. */
  command: readonly string[];
  /** Per call: a view is quick, a hand-over waits for the owner's containers and sends. */
  viewTimeoutMs: number;
  handOverTimeoutMs: number;
  format: string;
  /**
   * Requests straight to the peer's daemon socket through a unix socket the shared ssh
   * connection forwards (Replicator.forwardSocket): no ssh session nor CLI start per request.
   * When the forward cannot be set or does not answer, the CLI over ssh is used, logged.
   */
  forward?: {
    /** The daemon's socket on the peers (the same SOCKET on every node). */
    socket: string;
    open: (host: HostName, socket: string, options: { renew: boolean }) => Promise<string>;
    logger: Logger;
  };
}

/** The forward is checked with a quick request before each real one. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Peers' daemons: over a unix socket the shared ssh connection forwards to the peer's daemon
 * socket when it answers, else through the peer's own CLI over ssh (`buttervolume --json
 * replica|handover`) on that connection. The remote words are each single-quoted by sshArgv
 * (no interpolation on the remote shell), and an ssh forced command on the peer may restrict
 * the key to exactly this. A node that does not own the volume answers Code NOT_OWNER with
 * the owner it knows.
 */
export function sshPeerLink(options: SshPeerOptions): PeerLink {
  const sshFor = options.sshFor ?? (async () => options.ssh);

  const overCli = async (host: HostName, args: readonly string[], timeoutMs: number) => {
    const argv = sshArgv(await sshFor(host), host, [...options.command, ...args]);
    const result = await runCommand(options.ssh.sshPath, argv, {
      timeoutMs,
      env: { LC_ALL: 'C' },
    }).catch((error: Error) => {
      throw new PeerUnreachableError(host, error.message);
    });
    const stderr = String(result.stderr).trim().split('\n').slice(-3).join(' ').slice(0, 500);
    if (result.timedOut) throw new PeerUnreachableError(host, `no answer within ${timeoutMs} ms`);
    if (result.exitCode === 255) throw new PeerUnreachableError(host, stderr || 'ssh failed');
    try {
      return JSON.parse(String(result.stdout)) as Record<string, unknown>;
    } catch {
      throw new PluginError(
        'PEER_FAILED',
        `${host} did not answer as buttervolume does (exit ${result.exitCode}): ${stderr || String(result.stdout).slice(0, 200)}; check PEER_COMMAND and that its daemon runs`,
      );
    }
  };

  /**
   * A client on a forwarded socket that answers (a version request), renewing the forward once;
   * undefined, logged, when there is none: the request then goes through the CLI. The probe
   * makes the fallback safe: a request that may have reached the peer is never sent twice.
   */
  const forwarded = async (host: HostName): Promise<ButtervolumeClient | undefined> => {
    const forward = options.forward;
    if (!forward) return undefined;
    let reason: unknown;
    for (const renew of [false, true]) {
      try {
        const socketPath = await forward.open(host, forward.socket, { renew });
        const client = new ButtervolumeClient({ socketPath, timeoutMs: PROBE_TIMEOUT_MS });
        await client.version();
        return client;
      } catch (error) {
        reason = error;
        // A peer that does not answer in time is not helped by a new forward.
        if (error instanceof DaemonTimeoutError) break;
      }
    }
    forward.logger.warn('peer request: no forwarded socket, running the peer CLI over ssh', {
      host,
      error: reason instanceof Error ? reason.message : String(reason),
    });
    return undefined;
  };

  const overSocket = async (
    host: HostName,
    client: ButtervolumeClient,
    request: (client: ButtervolumeClient, timeoutMs: number) => Promise<unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> => {
    options.forward?.logger.debug('peer request over the forwarded socket', { host });
    try {
      return (await request(client, timeoutMs)) as Record<string, unknown>;
    } catch (error) {
      // The same answer the CLI prints with --json: the daemon's, Err and Code included.
      if (error instanceof DaemonError) {
        const answer = error.response;
        return typeof answer === 'object' && answer !== null
          ? (answer as Record<string, unknown>)
          : { Err: error.message };
      }
      if (error instanceof DaemonTimeoutError) {
        throw new PeerUnreachableError(host, `no answer within ${timeoutMs} ms`);
      }
      throw new PeerUnreachableError(host, error instanceof Error ? error.message : String(error));
    }
  };

  const ask = async (
    host: HostName,
    volume: VolumeName,
    cli: readonly string[],
    request: (client: ButtervolumeClient, timeoutMs: number) => Promise<unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> => {
    const client = await forwarded(host);
    const answer = client
      ? await overSocket(host, client, request, timeoutMs)
      : await overCli(host, cli, timeoutMs);
    const err = typeof answer.Err === 'string' ? answer.Err : '';
    if (err === '') return answer;
    if (answer.Code === 'NOT_OWNER') {
      throw new NotOwnerError(volume, String(answer.Owner ?? ''), Number(answer.Epoch ?? 0));
    }
    // The peer's sshd runs but its daemon does not answer: as good as unreachable.
    if (/daemon|socket/i.test(err) && /not running|not answer|ENOENT|ECONNREFUSED/i.test(err)) {
      throw new PeerUnreachableError(host, err);
    }
    throw new PluginError('PEER_FAILED', `${host}: ${err}`);
  };

  return {
    async view(host, volume): Promise<PeerView> {
      const a = await ask(
        host,
        volume,
        ['replica', '--json', '--', volume],
        (client, timeoutMs) => client.replica(volume, { timeoutMs }),
        options.viewTimeoutMs,
      );
      const state = a.State === 'owner' || a.State === 'replica' ? a.State : 'none';
      const replicas = hostsOf(a.Replicas);
      return {
        state,
        owner: String(a.Owner ?? ''),
        epoch: Number(a.Epoch ?? 0),
        ...(replicas ? { replicas } : {}),
      };
    },
    async handOver(host, volume, to, have): Promise<HandOverAnswer> {
      const a = await ask(
        host,
        volume,
        [
          'handover',
          '--json',
          '--to',
          to,
          ...(have === undefined ? [] : ['--have', have]),
          '--',
          volume,
        ],
        (client, timeoutMs) => client.handOver(volume, to, { have, timeoutMs }),
        options.handOverTimeoutMs,
      );
      const replicas = hostsOf(a.Replicas);
      return {
        snapshot: SnapshotName.parse(a.Snapshot, { format: options.format }),
        epoch: Number(a.Epoch),
        unchanged: a.Unchanged === true,
        held: heldOf(a.Held, options.format),
        ...(replicas ? { replicas } : {}),
      };
    },
  };
}

/** A peer's list of hosts, parsed; undefined when absent, empty or not all hosts. */
function hostsOf(raw: unknown): HostName[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((h) => HostName.is(h)))
    return undefined;
  return raw as HostName[];
}

/** A peer's Held map, parsed: entries that are not a host and a snapshot name are dropped. */
function heldOf(raw: unknown, format: string): Record<string, SnapshotName> {
  const held: Record<string, SnapshotName> = {};
  if (typeof raw !== 'object' || raw === null) return held;
  for (const [host, snapshot] of Object.entries(raw)) {
    if (HostName.is(host) && SnapshotName.is(snapshot, { format })) {
      held[host] = snapshot as SnapshotName;
    }
  }
  return held;
}

/** This node: its hostname (NODE_NAME), and every name or address that resolves to it. */
export function localNode(name: string = hostname()): NodeIdentity {
  const local = (): Set<string> => {
    const addresses = new Set<string>(['127.0.0.1', '::1']);
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) addresses.add(info.address);
    }
    return addresses;
  };
  return {
    name,
    async isSelf(host: HostName): Promise<boolean> {
      const lower = host.toLowerCase();
      if (lower === name.toLowerCase() || lower === 'localhost') return true;
      const mine = local();
      if (mine.has(host)) return true;
      // A name that does not resolve is not one of ours (the ssh to it fails on its own).
      const resolved = await lookup(host, { all: true }).catch(() => []);
      return resolved.some((r) => mine.has(r.address) || r.address.startsWith('127.'));
    },
  };
}

/**
 * A Mount is the container's real one once Docker has finished creating that container (see
 * DockerClient.createFinished). Without Docker's API every Mount counts as real, and a
 * copy-up Mount hands over early: safe, only sooner (documented).
 */
export function dockerMountProbe(docker: DockerClient | undefined, logger: Logger): MountProbe {
  return {
    async isRealMount(volume: VolumeName): Promise<boolean> {
      if (!docker) return true;
      try {
        const containers = await docker.containersUsingVolume(volume);
        for (const c of containers) if (await docker.createFinished(c.id)) return true;
        return containers.length === 0;
      } catch (error) {
        logger.warn('cannot ask Docker which mount this is: handing over', { volume, error });
        return true;
      }
    },
  };
}
