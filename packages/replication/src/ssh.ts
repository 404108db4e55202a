import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ReplicationError } from './errors.js';

/** How to reach other hosts. The defaults work with a plain root key in ~/.ssh. */
export interface SshOptions {
  /** ssh port (3.x reads the `SSH_PORT` env var; default 22). */
  port?: number;
  /** Remote user (default `root`: btrfs receive needs it). */
  user?: string;
  /** Private key (`-i`); default: ssh's own choice (~/.ssh/id_*). */
  identityFile?: string;
  /** `StrictHostKeyChecking` (default: ssh's own, `ask`, which BatchMode turns into "refuse"). */
  strictHostKeyChecking?: 'yes' | 'no' | 'accept-new';
  /** `UserKnownHostsFile`. */
  knownHostsFile?: string;
  /** `ConnectTimeout` in seconds (default 10). */
  connectTimeoutSec?: number;
  /** `-F`: an ssh_config file, or `'none'` to read none (default: ssh's usual files). */
  configFile?: string;
  /**
   * Extra `-o` options as `Key=Value`. A `Ciphers=…` here replaces our default preference
   * (AES-GCM first on CPUs with AES instructions, ssh's own order otherwise).
   */
  extraOptions?: readonly string[];
  /**
   * Seconds an idle shared connection stays open (ssh `ControlPersist`), so the checks, the
   * transfer and the next send to the same host pay for one ssh handshake; 0 opens a fresh
   * connection every time. Default 5. Only a `Replicator` shares connections.
   */
  controlPersistSec?: number;
  /** The ssh binary (default `ssh`). */
  sshPath?: string;
  /**
   * Seconds a short remote command (a clean-up, a check) may take, connection included, before
   * it is killed (default 60).
   */
  commandTimeoutSec?: number;
  /**
   * Seconds a send or a sync may go without moving a byte before it is stopped (default 600;
   * rsync's `--timeout`). A host that accepts the data and never finishes is caught by it too.
   */
  stallTimeoutSec?: number;
}

// Values that end up in a command line the remote shell parses (or that rsync splits) are held
// to a plain character set: absolute paths and words without quotes, spaces or shell syntax.
const SAFE_PATH_RE = /^\/[A-Za-z0-9_.,+@%=:/-]*$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const OPTION_RE = /^[A-Za-z][A-Za-z0-9]*=[A-Za-z0-9_.,+@%:/=-]+$/;

function invalid(what: string, value: unknown, rule: string): ReplicationError {
  return new ReplicationError(
    'INVALID_SETTING',
    `invalid ${what} ${JSON.stringify(value)}: ${rule}`,
  );
}

/** Checks a path we put on a command line, here or on a remote host. */
export function checkPath(what: string, path: string): string {
  if (!SAFE_PATH_RE.test(path) || !isAbsolute(path) || path.split('/').includes('..')) {
    throw invalid(what, path, 'use an absolute path of letters, digits and _ . , + @ % = : / -');
  }
  return path;
}

/** Settings after validation: everything needed to build ssh's argument list. */
export interface SshSettings {
  sshPath: string;
  user: string;
  /** The `-F/-p/-i/-o` arguments (no destination, no command). */
  args: readonly string[];
  /** Validated ControlPersist seconds (0: no shared connection). */
  controlPersistSec: number;
  /** Longest run of a short remote command, in ms. */
  commandTimeoutMs: number;
  /** Longest time a transfer may move nothing, in ms. */
  stallTimeoutMs: number;
}

/**
 * OpenSSH's default ciphers, AES-GCM first: with AES instructions it encrypts several times
 * faster than chacha20-poly1305 (ssh's first choice), which matters for a multi-GB send. Every
 * server that takes ssh's defaults accepts one of these.
 */
export const AES_FIRST_CIPHERS =
  'aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr';

let aesCache: boolean | undefined;

/** Whether this CPU has AES instructions (x86 `aes` flag, arm `aes` feature). */
export function cpuHasAes(): boolean {
  if (aesCache === undefined) {
    try {
      aesCache = /^(?:flags|Features)\s*:.*\baes\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      // No /proc/cpuinfo (an odd sandbox): the portable cipher order, which works everywhere.
      aesCache = false;
    }
  }
  return aesCache;
}

/** Validates ssh options once (the constructor calls this), so a bad setting fails early. */
export function sshSettings(
  options: SshOptions = {},
  machine: { hasAes: boolean } = { hasAes: cpuHasAes() },
): SshSettings {
  const user = options.user ?? 'root';
  if (!USER_RE.test(user)) throw invalid('ssh user', user, 'use a plain user name');
  const args: string[] = [];
  if (options.configFile !== undefined) {
    args.push(
      '-F',
      options.configFile === 'none' ? 'none' : checkPath('ssh config file', options.configFile),
    );
  }
  const port = options.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid('ssh port', port, 'use an integer from 1 to 65535');
  }
  args.push('-p', String(port));
  if (options.identityFile !== undefined) {
    args.push(
      '-i',
      checkPath('ssh identity file', options.identityFile),
      '-o',
      'IdentitiesOnly=yes',
    );
  }
  // The operator's own options go first: for each option ssh keeps the first value it is
  // given, so these override our defaults below (ConnectTimeout, BatchMode, Ciphers, …).
  for (const option of options.extraOptions ?? []) {
    // A `Key=Value` word only: no spaces (ssh would split), no quotes, no shell syntax.
    if (!OPTION_RE.test(option))
      throw invalid('ssh option', option, 'use Key=Value without spaces or quotes');
    args.push('-o', option);
  }
  const timeout = options.connectTimeoutSec ?? 10;
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw invalid('ssh connect timeout', timeout, 'use a whole number of seconds >= 1');
  }
  // BatchMode: never prompt (a daemon has no terminal; a prompt would hang the send).
  // ServerAlive*: notice a host that vanished mid-transfer instead of waiting for TCP.
  args.push(
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${timeout}`,
    '-o',
    'ServerAliveInterval=10',
    '-o',
    'ServerAliveCountMax=3',
  );
  if (options.strictHostKeyChecking !== undefined) {
    if (!['yes', 'no', 'accept-new'].includes(options.strictHostKeyChecking)) {
      throw invalid(
        'StrictHostKeyChecking',
        options.strictHostKeyChecking,
        'use yes, no or accept-new',
      );
    }
    args.push('-o', `StrictHostKeyChecking=${options.strictHostKeyChecking}`);
  }
  if (options.knownHostsFile !== undefined) {
    args.push('-o', `UserKnownHostsFile=${checkPath('known hosts file', options.knownHostsFile)}`);
  }
  const ownCiphers = (options.extraOptions ?? []).some((o) => /^ciphers=/i.test(o));
  if (machine.hasAes && !ownCiphers) args.push('-o', `Ciphers=${AES_FIRST_CIPHERS}`);
  const controlPersistSec = options.controlPersistSec ?? 5;
  if (!Number.isInteger(controlPersistSec) || controlPersistSec < 0) {
    throw invalid('ssh ControlPersist', controlPersistSec, 'use a whole number of seconds >= 0');
  }
  const sshPath = options.sshPath ?? 'ssh';
  if (sshPath !== 'ssh') checkPath('ssh binary', sshPath);
  const commandTimeoutSec = seconds('ssh command timeout', options.commandTimeoutSec, 60);
  const stallTimeoutSec = seconds('transfer stall timeout', options.stallTimeoutSec, 600);
  return {
    sshPath,
    user,
    args,
    controlPersistSec,
    commandTimeoutMs: commandTimeoutSec * 1000,
    stallTimeoutMs: stallTimeoutSec * 1000,
  };
}

// Up to a day: a timer never gets near Node's 24.8-day limit, and a longer wait is a typo.
function seconds(what: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result <= 0 || result > 86_400) {
    throw invalid(what, result, 'use a number of seconds from more than 0 to 86400');
  }
  return result;
}

/**
 * `settings` sharing one connection per host through a control socket in `controlDir` (a
 * private 0700 folder: whoever can reach the socket can run commands as the remote user).
 */
export function withControlMaster(settings: SshSettings, controlDir: string): SshSettings {
  if (settings.controlPersistSec === 0) return settings;
  const dir = checkPath('ssh control folder', controlDir);
  return {
    ...settings,
    args: [
      ...settings.args,
      '-o',
      'ControlMaster=auto',
      // %C: a hash of host, port and user, short enough for a socket path.
      '-o',
      `ControlPath=${dir}/%C`,
      '-o',
      `ControlPersist=${settings.controlPersistSec}`,
    ],
  };
}

/**
 * The full ssh argument list running `remote` on `host`. ssh joins the words after the
 * destination into one string that the remote user's shell parses, so each word is quoted.
 */
export function sshArgv(
  settings: SshSettings,
  host: string,
  remote: readonly string[],
  options: { compress?: boolean } = {},
): string[] {
  return [
    ...settings.args,
    ...(options.compress ? ['-C'] : []),
    '-l',
    settings.user,
    '--',
    host,
    remoteCommand(remote),
  ];
}

/** One POSIX-shell word for `value`: single-quoted, with embedded quotes closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A remote command line from an argument array; `env LC_ALL=C` pins btrfs' message language. */
export function remoteCommand(argv: readonly string[]): string {
  return ['env', 'LC_ALL=C', ...argv].map(shellQuote).join(' ');
}

/**
 * rsync's `-e` value: rsync splits it on spaces and honours quotes (no backslashes), so every
 * word is single-quoted; the words were validated above and hold no quote of their own.
 */
export function rsyncShell(settings: SshSettings, options: { compress?: boolean } = {}): string {
  const words = [settings.sshPath, ...settings.args, ...(options.compress ? ['-C'] : [])];
  for (const word of words) {
    if (word.includes("'")) throw invalid('ssh argument', word, 'must not contain quotes');
  }
  return words.map((word) => `'${word}'`).join(' ');
}

/** `host` as rsync expects it in `user@host:path` (IPv6 addresses in brackets). */
export function rsyncHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
