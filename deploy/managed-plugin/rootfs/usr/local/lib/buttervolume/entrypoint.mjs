// The managed plugin's main process (tini, process 1 of the plugin, reaps orphans and hands
// signals to it). It runs two children:
//   - `buttervolume run`, the volume plugin: if it exits, the plugin exits with its status;
//   - sshd on SSH_PORT (default 1122, as 3.x), so peers can `btrfs send | ssh -p SSH_PORT
//     root@this-host btrfs receive /var/lib/buttervolume/snapshots` into this plugin. Volumes
//     matter more than replication: when sshd cannot start or dies, this says so in the log
//     and starts it again later (1 s, 2 s, … up to 60 s apart); the volume plugin keeps going.
// sshd's host keys live in the ssh mount (/root/.ssh/host_keys, on the host
// /var/lib/buttervolume/ssh/host_keys by default), made on first start, so peers' known_hosts
// stay valid across restarts and plugin upgrades; no host key is baked into the image.
// No shell: every child gets an argument array.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const DEFAULT_SSH_PORT = 1122;
const BUTTERVOLUME = '/usr/local/bin/buttervolume';
const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SSHD_CONFIG = '/usr/local/lib/buttervolume/sshd_config';
export const HOST_KEY_DIR = '/root/.ssh/host_keys';
// The types Debian's openssh-server makes (`ssh-keygen -A`): each peer's client finds one it
// accepts, and keys copied from a 3.x plugin (any of these types) are used as they are.
const HOST_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'];
const MAX_RESTART_DELAY_MS = 60_000;
// A sshd that ran this long was working: the next failure starts the back-off afresh.
const HEALTHY_RUN_MS = 60_000;
// docker plugin disable kills the plugin 10 s after its SIGTERM; stop the children before.
const STOP_GRACE_MS = 8_000;

export class EntrypointError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'EntrypointError';
    this.code = code;
  }
}

/** SSH_PORT as a port number; unset or empty means 1122. Anything else is refused. */
export function parseSshPort(env) {
  const text = env.SSH_PORT;
  if (text === undefined || text === '') return DEFAULT_SSH_PORT;
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new EntrypointError(
      'INVALID_SSH_PORT',
      `SSH_PORT must be a port number (1-65535), got ${JSON.stringify(text.slice(0, 40))}: ` +
        'fix it with `docker plugin disable PLUGIN && docker plugin set PLUGIN SSH_PORT=1122`',
    );
  }
  return port;
}

function log(message) {
  console.error(`buttervolume-entrypoint: ${message}`);
}

/** Resolves with the exit code (or 128 + signal number) of a finished child. */
function exited(child) {
  return new Promise((resolve) => {
    child.once('error', (error) => {
      log(`${child.spawnfile}: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
}

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 0;
}

async function run(file, args) {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await exited(child);
  return { code, stderr: stderr.trim() };
}

/**
 * The host key files sshd gets, making the missing types. A key is written under a temporary
 * name and renamed, so an interrupted start never leaves half a key that sshd would reject.
 */
export async function ensureHostKeys(dir = HOST_KEY_DIR) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = [];
  for (const type of HOST_KEY_TYPES) {
    const key = join(dir, `ssh_host_${type}_key`);
    if (!existsSync(key)) {
      const partial = join(dir, `.partial_ssh_host_${type}_key`);
      rmSync(partial, { force: true });
      rmSync(`${partial}.pub`, { force: true });
      const made = await run(SSH_KEYGEN, ['-q', '-t', type, '-N', '', '-C', '', '-f', partial]);
      if (made.code !== 0) {
        log(`cannot make the ${type} host key in ${dir} (ssh-keygen ${made.code}): ${made.stderr}`);
        continue;
      }
      renameSync(`${partial}.pub`, `${key}.pub`);
      renameSync(partial, key);
      log(`made the sshd host key ${key}`);
    }
    // sshd refuses a host key others can read; a key copied in by hand often is.
    if ((statSync(key).mode & 0o077) !== 0) {
      chmodSync(key, 0o600);
      log(`${key} was readable by others: made it 0600`);
    }
    keys.push(key);
  }
  return keys;
}

/** Keeps sshd running until `stopping()`; returns a function that stops it for good. */
function superviseSshd(port, keys, stopping) {
  let current;
  let delay = 1_000;
  let timer;
  const start = () => {
    // /run/sshd: OpenSSH's privilege separation directory, expected to exist at start.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const args = ['-D', '-e', '-f', SSHD_CONFIG, '-p', String(port)];
    for (const key of keys) args.push('-h', key);
    const started = performance.now();
    const child = spawn(SSHD, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    current = child;
    log(`sshd listening on port ${port} (pid ${child.pid})`);
    void exited(child).then((code) => {
      current = undefined;
      if (stopping()) return;
      if (performance.now() - started > HEALTHY_RUN_MS) delay = 1_000;
      log(
        `sshd exited (${code}); peers cannot send to this host until it is back: ` +
          `starting it again in ${delay / 1000} s (volumes are not affected)`,
      );
      timer = setTimeout(start, delay);
      delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    });
  };
  start();
  return () => {
    clearTimeout(timer);
    const child = current;
    if (child === undefined) return Promise.resolve();
    child.kill('SIGTERM');
    return exited(child);
  };
}

async function main() {
  let port;
  try {
    port = parseSshPort(process.env);
  } catch (error) {
    log(error.message);
    process.exit(2);
  }

  let stopping = false;
  // Volumes first: the daemon's socket is what `docker plugin enable` waits for.
  const daemon = spawn(BUTTERVOLUME, ['run'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    // The same port for outgoing send/sync as for the sshd here, as 3.x (default included).
    env: { ...process.env, SSH_PORT: String(port) },
  });
  const daemonExit = exited(daemon);

  let stopSshd = () => Promise.resolve();
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping buttervolume and sshd`);
    daemon.kill('SIGTERM');
    void stopSshd();
    setTimeout(() => {
      log('children still running: killing them');
      daemon.kill('SIGKILL');
      process.exit(137);
    }, STOP_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  ensureHostKeys()
    .then((keys) => {
      if (stopping) return;
      if (keys.length === 0) {
        log(`no sshd host key in ${HOST_KEY_DIR}: sshd not started, peers cannot send here`);
        return;
      }
      stopSshd = superviseSshd(port, keys, () => stopping);
    })
    .catch((error) => log(`sshd not started: ${error.message}`));

  const code = await daemonExit;
  if (!stopping) log(`buttervolume run exited (${code}): stopping sshd`);
  stopping = true;
  await stopSshd();
  process.exit(code);
}

// Imported (by the tests, for parseSshPort) it only defines; run, it is the entrypoint.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
