import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { snapshotFormatProblem } from '@buttervolume/names';
import { parseIniDefaults } from './ini.js';
import {
  type ListenAddress,
  type Parsed,
  parseBandwidth,
  parseBoolean,
  parseListenAddress,
  parseSafePath,
  parseSshOptions,
  parseStrictHostKeyChecking,
  parseUser,
  parseWholeNumber,
  type StrictHostKeyChecking,
} from './values.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

export interface Config {
  volumesPath: string;
  snapshotsPath: string;
  /** schedule.csv (`<schedule>.disabled` when the whole schedule is paused). */
  schedule: string;
  runPath: string;
  /** The unix socket the daemon listens on and the CLI talks to. */
  socket: string;
  /** Seconds between two scheduler passes. */
  timer: number;
  /** strftime format of the timestamp in snapshot names. */
  dtFormat: string;
  logLevel: LogLevel;
  driverName: string;
  /** ssh port for send and sync (plain `SSH_PORT` env var, as in 3.x); undefined: ssh's default. */
  sshPort: number | undefined;
  /** Remote user for send and sync (SSH_USER, default root: btrfs receive needs it). */
  sshUser: string;
  /** Private key (`ssh -i`, SSH_IDENTITY_FILE); undefined: ssh's own choice (~/.ssh/id_*). */
  sshIdentityFile: string | undefined;
  /** known_hosts file (SSH_KNOWN_HOSTS_FILE); undefined: ssh's own. */
  sshKnownHostsFile: string | undefined;
  /** SSH_STRICT_HOST_KEY_CHECKING; undefined: ssh's own setting. */
  sshStrictHostKeyChecking: StrictHostKeyChecking | undefined;
  /** Extra `-o Key=Value` options (SSH_OPTIONS). */
  sshOptions: string[];
  /** `ssh -C` for sends, `rsync -z` for syncs (SSH_COMPRESSION, default false). */
  sshCompression: boolean;
  /** Average send rate limit in bytes/s (SSH_BANDWIDTH_LIMIT); undefined: none. */
  sshBandwidthLimit: number | undefined;
  /** Seconds a short remote step (check, clean-up) may take (SSH_COMMAND_TIMEOUT, default 60). */
  sshCommandTimeoutSeconds: number;
  /** Seconds a send or sync may move nothing before it is stopped (TRANSFER_STALL_TIMEOUT, 600). */
  transferStallTimeoutSeconds: number;
  /** This node's name for replicated volumes (NODE_NAME, default the hostname). */
  nodeName: string | undefined;
  /** The buttervolume CLI on peer nodes, run over ssh (PEER_COMMAND, default `buttervolume`). */
  peerCommand: string;
  /**
   * Whether Create accepts `replicas=` (REPLICATED_VOLUMES, default true). The managed plugin
   * sets false: its peers would need their CLI and Docker's socket, which it has not.
   */
  replicatedVolumes: boolean;
  /** Seconds between increments of each replicated volume this node owns (REPLICATION_PERIOD). */
  replicationPeriodSeconds: number;
  /** Seconds a hand-over waits for the owner's containers to unmount (HANDOVER_WAIT). */
  handOverWaitSeconds: number;
  /** Scheduled jobs of different volumes run at once (SCHEDULER_CONCURRENCY, default 4). */
  schedulerConcurrency: number;
  /** A scheduled job running longer is aborted (JOB_TIMEOUT, minutes, default 360). */
  jobTimeoutMinutes: number;
  /** Seconds running jobs get to finish at shutdown before they are aborted (STOP_GRACE, 10). */
  stopGraceSeconds: number;
  /** TCP address serving GET /metrics only (METRICS_ADDRESS); undefined: none (the default). */
  metricsAddress: ListenAddress | undefined;
  /**
   * The Docker Engine API socket (DOCKER_SOCKET, default /var/run/docker.sock): which containers
   * use a volume, hooks, group snapshots, and telling Docker's copy-up Mount from a real one.
   * Nothing answering there only turns those features off.
   */
  dockerSocket: string;
  /** Seconds a snapshot hook may run in its container (HOOK_TIMEOUT, default 60). */
  hookTimeoutSeconds: number;
  /** Where each value came from, for `buttervolume config` style diagnostics. */
  sources: Record<string, 'env' | 'ini' | 'default'>;
  /** The ini file that was read, if it existed. */
  iniPath: string | undefined;
}

/** Longest TIMER (seconds) and JOB_TIMEOUT (minutes): a year. */
const MAX_TIMER_SECONDS = 31_536_000;
const MAX_JOB_TIMEOUT_MINUTES = 525_600;

/** A hook's time-out, from HOOK_TIMEOUT or a container label, is at most an hour. */
export const MAX_HOOK_TIMEOUT_SECONDS = 3600;

export const DEFAULT_CONFIG_FILE = '/etc/buttervolume/config.ini';

/** A config value we cannot run with; says which variable, where it came from, and why. */
export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(
    readonly key: string,
    readonly source: string,
    reason: string,
  ) {
    super(`Invalid configuration ${key} (from ${source}): ${reason}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Default: `$BUTTERVOLUME_CONFIG_FILE`, else /etc/buttervolume/config.ini. A missing file is fine. */
  iniPath?: string;
}

/** Each var: `BUTTERVOLUME_<VAR>` from the environment, then config.ini's [DEFAULT], then the default. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const iniPath = options.iniPath ?? env.BUTTERVOLUME_CONFIG_FILE ?? DEFAULT_CONFIG_FILE;
  const ini = readIni(iniPath);
  const sources: Config['sources'] = {};

  const get = (key: string, fallback: string): string => {
    const fromEnv = env[`BUTTERVOLUME_${key}`];
    if (fromEnv !== undefined && fromEnv !== '') {
      sources[key] = 'env';
      return fromEnv;
    }
    const fromIni = ini?.get(key);
    if (fromIni !== undefined && fromIni !== '') {
      sources[key] = 'ini';
      return fromIni;
    }
    sources[key] = 'default';
    return fallback;
  };
  const where = (key: string) =>
    sources[key] === 'env' ? `BUTTERVOLUME_${key}` : sources[key] === 'ini' ? iniPath : 'default';
  /** A var parsed by `parse`; the ConfigError names it and its source. */
  const parsed = <T>(key: string, fallback: string, parse: (text: string) => Parsed<T>): T => {
    const result = parse(get(key, fallback));
    if (!result.ok) throw new ConfigError(key, where(key), result.reason);
    return result.value;
  };
  /** The same for a var without a default: undefined when unset. */
  const optional = <T>(key: string, parse: (text: string) => Parsed<T>): T | undefined => {
    const text = get(key, '');
    if (text === '') {
      sources[key] = 'default';
      return undefined;
    }
    return parsed(key, text, parse);
  };
  const path = (key: string, fallback: string): string => {
    const value = get(key, fallback);
    if (!isAbsolute(value))
      throw new ConfigError(key, where(key), `"${value}" is not an absolute path`);
    return value;
  };

  const runPath = path('RUNPATH', '/run/docker');
  const timerText = get('TIMER', '60');
  const timer = Number(timerText);
  if (!/^\d+$/.test(timerText.trim()) || !Number.isSafeInteger(timer) || timer <= 0) {
    throw new ConfigError(
      'TIMER',
      where('TIMER'),
      `"${timerText}" is not a positive number of seconds`,
    );
  }
  // Durations past Node's 24.8-day timer limit are waited for in steps (the scheduler's long
  // timer); beyond a year a value is a typo, and saying so beats never running a pass.
  if (timer > MAX_TIMER_SECONDS) {
    throw new ConfigError(
      'TIMER',
      where('TIMER'),
      `"${timerText}" seconds is more than a year (${MAX_TIMER_SECONDS}); use a smaller number of seconds between scheduler passes`,
    );
  }
  const logLevel = get('LOGLEVEL', 'INFO').toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      'LOGLEVEL',
      where('LOGLEVEL'),
      `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  const sshPortText = env.SSH_PORT;
  let sshPort: number | undefined;
  if (sshPortText !== undefined && sshPortText !== '') {
    sshPort = Number(sshPortText);
    if (!/^\d+$/.test(sshPortText) || sshPort < 1 || sshPort > 65535) {
      throw new ConfigError(
        'SSH_PORT',
        'SSH_PORT',
        `"${sshPortText}" is not a port number (1-65535)`,
      );
    }
    sources.SSH_PORT = 'env';
  } else {
    sshPort = optional('SSH_PORT', (text) => parseWholeNumber(text, 1, 65535));
  }
  // Checked here once: every snapshot name after this is made and read with it.
  const dtFormat = parsed('DTFORMAT', '%Y-%m-%dT%H:%M:%S.%f', (text) => {
    const problem = snapshotFormatProblem(text);
    return problem === undefined
      ? { ok: true, value: text }
      : { ok: false, reason: `${JSON.stringify(text)}: ${problem}` }; // a newline shown as \n
  });

  return {
    volumesPath: path('VOLUMES_PATH', '/var/lib/buttervolume/volumes/'),
    snapshotsPath: path('SNAPSHOTS_PATH', '/var/lib/buttervolume/snapshots/'),
    schedule: path('SCHEDULE', '/etc/buttervolume/schedule.csv'),
    runPath,
    socket: path('SOCKET', join(runPath, 'plugins', 'btrfs.sock')),
    timer,
    dtFormat,
    logLevel: logLevel as LogLevel,
    driverName: get('DRIVERNAME', 'anybox/buttervolume:latest'),
    sshPort,
    sshUser: parsed('SSH_USER', 'root', parseUser),
    sshIdentityFile: optional('SSH_IDENTITY_FILE', parseSafePath),
    sshKnownHostsFile: optional('SSH_KNOWN_HOSTS_FILE', parseSafePath),
    sshStrictHostKeyChecking: optional('SSH_STRICT_HOST_KEY_CHECKING', parseStrictHostKeyChecking),
    sshOptions: optional('SSH_OPTIONS', parseSshOptions) ?? [],
    sshCompression: parsed('SSH_COMPRESSION', 'false', parseBoolean),
    sshBandwidthLimit: optional('SSH_BANDWIDTH_LIMIT', parseBandwidth),
    sshCommandTimeoutSeconds: parsed('SSH_COMMAND_TIMEOUT', '60', (t) =>
      parseWholeNumber(t, 1, 86_400),
    ),
    transferStallTimeoutSeconds: parsed('TRANSFER_STALL_TIMEOUT', '600', (t) =>
      parseWholeNumber(t, 1, 86_400),
    ),
    nodeName: optional('NODE_NAME', parseNodeName),
    peerCommand: parsed('PEER_COMMAND', 'buttervolume', parseCommandWord),
    replicatedVolumes: parsed('REPLICATED_VOLUMES', 'true', parseBoolean),
    replicationPeriodSeconds: parsed('REPLICATION_PERIOD', '60', (t) =>
      parseWholeNumber(t, 1, 86_400),
    ),
    handOverWaitSeconds: parsed('HANDOVER_WAIT', '20', (t) => parseWholeNumber(t, 0, 3600)),
    schedulerConcurrency: parsed('SCHEDULER_CONCURRENCY', '4', (t) => parseWholeNumber(t, 1, 64)),
    jobTimeoutMinutes: parsed('JOB_TIMEOUT', '360', (t) =>
      parseWholeNumber(t, 1, MAX_JOB_TIMEOUT_MINUTES),
    ),
    stopGraceSeconds: parsed('STOP_GRACE', '10', (t) => parseWholeNumber(t, 0, 3600)),
    metricsAddress: optional('METRICS_ADDRESS', parseListenAddress),
    dockerSocket: path('DOCKER_SOCKET', '/var/run/docker.sock'),
    hookTimeoutSeconds: parsed('HOOK_TIMEOUT', '60', (t) =>
      parseWholeNumber(t, 1, MAX_HOOK_TIMEOUT_SECONDS),
    ),
    sources,
    iniPath: ini ? iniPath : undefined,
  };
}

function parseNodeName(text: string): Parsed<string> {
  return /^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/.test(text)
    ? { ok: true, value: text }
    : { ok: false, reason: `"${text.slice(0, 60)}" is not a host name` };
}

/** A command name or absolute path: one word, no shell syntax (it is quoted anyway). */
function parseCommandWord(text: string): Parsed<string> {
  return /^[A-Za-z0-9_./-]+$/.test(text) && !text.startsWith('-')
    ? { ok: true, value: text }
    : { ok: false, reason: `"${text.slice(0, 60)}" is not a command name or absolute path` };
}

function readIni(path: string): Map<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError('CONFIG_FILE', path, (error as Error).message);
  }
  return parseIniDefaults(text);
}
