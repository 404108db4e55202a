import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.js';
import { parseIniDefaults } from './ini.js';

const dirs: string[] = [];
function ini(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bv-config-'));
  dirs.push(dir);
  const path = join(dir, 'config.ini');
  writeFileSync(path, text);
  return path;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const missing = '/nonexistent/bv-config.ini';

describe('loadConfig', () => {
  it('uses 3.x defaults when nothing is set', () => {
    const config = loadConfig({ env: {}, iniPath: missing });
    expect(config).toMatchObject({
      volumesPath: '/var/lib/buttervolume/volumes/',
      snapshotsPath: '/var/lib/buttervolume/snapshots/',
      schedule: '/etc/buttervolume/schedule.csv',
      runPath: '/run/docker',
      socket: '/run/docker/plugins/btrfs.sock',
      timer: 60,
      dtFormat: '%Y-%m-%dT%H:%M:%S.%f',
      logLevel: 'INFO',
      driverName: 'anybox/buttervolume:latest',
      sshPort: undefined,
      iniPath: undefined,
    });
  });

  it('prefers BUTTERVOLUME_* env, then config.ini [DEFAULT], then defaults', () => {
    const path = ini(
      '[DEFAULT]\nvolumes_path = /ini/volumes\nSNAPSHOTS_PATH: /ini/snaps\nTIMER=5\n',
    );
    const config = loadConfig({
      env: { BUTTERVOLUME_VOLUMES_PATH: '/env/volumes' },
      iniPath: path,
    });
    expect(config.volumesPath).toBe('/env/volumes');
    expect(config.snapshotsPath).toBe('/ini/snaps');
    expect(config.timer).toBe(5);
    expect(config.sources).toMatchObject({
      VOLUMES_PATH: 'env',
      SNAPSHOTS_PATH: 'ini',
      RUNPATH: 'default',
    });
  });

  it('derives the socket from RUNPATH unless SOCKET is set', () => {
    expect(loadConfig({ env: { BUTTERVOLUME_RUNPATH: '/tmp/r' }, iniPath: missing }).socket).toBe(
      '/tmp/r/plugins/btrfs.sock',
    );
    expect(
      loadConfig({
        env: { BUTTERVOLUME_RUNPATH: '/tmp/r', BUTTERVOLUME_SOCKET: '/s.sock' },
        iniPath: missing,
      }).socket,
    ).toBe('/s.sock');
  });

  it('reads the ini path from BUTTERVOLUME_CONFIG_FILE', () => {
    const path = ini('[DEFAULT]\nLOGLEVEL = debug\n');
    expect(loadConfig({ env: { BUTTERVOLUME_CONFIG_FILE: path } }).logLevel).toBe('DEBUG');
  });

  it('reads SSH_PORT as 3.x did', () => {
    expect(loadConfig({ env: { SSH_PORT: '2222' }, iniPath: missing }).sshPort).toBe(2222);
    expect(() => loadConfig({ env: { SSH_PORT: '22; id' }, iniPath: missing })).toThrow(
      ConfigError,
    );
  });

  it('accepts a TIMER and a JOB_TIMEOUT past Node’s 24.8-day timer limit (the scheduler waits in steps)', () => {
    const config = loadConfig({
      env: { BUTTERVOLUME_TIMER: '3000000', BUTTERVOLUME_JOB_TIMEOUT: '100000' },
      iniPath: missing,
    });
    expect(config.timer).toBe(3_000_000);
    expect(config.jobTimeoutMinutes).toBe(100_000);
  });

  it.each([
    [{ BUTTERVOLUME_TIMER: '0' }, /TIMER/],
    [{ BUTTERVOLUME_TIMER: '-5' }, /TIMER/],
    [{ BUTTERVOLUME_TIMER: 'soon' }, /TIMER/],
    [{ BUTTERVOLUME_TIMER: '31536001' }, /TIMER.*more than a year/],
    [{ BUTTERVOLUME_VOLUMES_PATH: 'relative/path' }, /VOLUMES_PATH.*absolute/],
    [{ BUTTERVOLUME_LOGLEVEL: 'LOUD' }, /LOGLEVEL/],
    [{ BUTTERVOLUME_DTFORMAT: 'plain' }, /DTFORMAT.*no strftime directive/],
    [{ BUTTERVOLUME_DTFORMAT: '%Y/%m/%d' }, /DTFORMAT.*"\/" into snapshot names/],
    [{ BUTTERVOLUME_DTFORMAT: '%Y@%m' }, /DTFORMAT.*"@"/],
    [{ BUTTERVOLUME_DTFORMAT: '%Y-%Q' }, /DTFORMAT.*not supported/],
    [{ BUTTERVOLUME_DTFORMAT: '%Y-%Y' }, /DTFORMAT.*twice/],
    [{ BUTTERVOLUME_DTFORMAT: '%Y-%m-%d\n%H' }, /DTFORMAT.*control character/],
    [{ BUTTERVOLUME_DTFORMAT: '%H:%M:%S' }, /DTFORMAT.*lacks %Y, %m, %d/],
    [{ BUTTERVOLUME_DTFORMAT: `%Y-%m-%d${'_'.repeat(200)}` }, /DTFORMAT.*file-name limit/],
  ])('rejects %j with a clear error', (env, message) => {
    expect(() => loadConfig({ env, iniPath: missing })).toThrow(message);
  });
});

describe('replicated volume settings', () => {
  it('default to the hostname, `buttervolume` on peers, 60 s increments, 20 s hand-over wait', () => {
    expect(loadConfig({ env: {}, iniPath: missing })).toMatchObject({
      nodeName: undefined,
      peerCommand: 'buttervolume',
      replicationPeriodSeconds: 60,
      handOverWaitSeconds: 20,
      dockerSocket: '/var/run/docker.sock',
      replicatedVolumes: true,
    });
  });

  it('reads them from BUTTERVOLUME_*', () => {
    const config = loadConfig({
      env: {
        BUTTERVOLUME_NODE_NAME: 'n1.example.org',
        BUTTERVOLUME_PEER_COMMAND: '/usr/local/bin/buttervolume',
        BUTTERVOLUME_REPLICATION_PERIOD: '5',
        BUTTERVOLUME_HANDOVER_WAIT: '3',
        BUTTERVOLUME_DOCKER_SOCKET: '/run/docker.sock',
        BUTTERVOLUME_REPLICATED_VOLUMES: 'false',
      },
      iniPath: missing,
    });
    expect(config).toMatchObject({
      replicatedVolumes: false,
      nodeName: 'n1.example.org',
      peerCommand: '/usr/local/bin/buttervolume',
      replicationPeriodSeconds: 5,
      handOverWaitSeconds: 3,
      dockerSocket: '/run/docker.sock',
    });
  });

  it.each([
    [{ BUTTERVOLUME_NODE_NAME: '-n1' }, /NODE_NAME/],
    [{ BUTTERVOLUME_NODE_NAME: 'a b' }, /NODE_NAME/],
    [{ BUTTERVOLUME_PEER_COMMAND: 'buttervolume; rm -rf /' }, /PEER_COMMAND/],
    [{ BUTTERVOLUME_PEER_COMMAND: '$(touch /tmp/p)' }, /PEER_COMMAND/],
    [{ BUTTERVOLUME_PEER_COMMAND: '-oProxyCommand=x' }, /PEER_COMMAND/],
    [{ BUTTERVOLUME_REPLICATION_PERIOD: '0' }, /REPLICATION_PERIOD/],
    [{ BUTTERVOLUME_HANDOVER_WAIT: 'soon' }, /HANDOVER_WAIT/],
    [{ BUTTERVOLUME_DOCKER_SOCKET: 'docker.sock' }, /DOCKER_SOCKET/],
  ])('rejects %j with a clear error', (env, message) => {
    expect(() => loadConfig({ env, iniPath: missing })).toThrow(message);
  });
});

describe('ssh and scheduler settings', () => {
  it('default to root, ssh’s own keys and host checking, no extras, 4 jobs, 6 h, 10 s', () => {
    expect(loadConfig({ env: {}, iniPath: missing })).toMatchObject({
      sshUser: 'root',
      sshIdentityFile: undefined,
      sshKnownHostsFile: undefined,
      sshStrictHostKeyChecking: undefined,
      sshOptions: [],
      sshCompression: false,
      sshBandwidthLimit: undefined,
      schedulerConcurrency: 4,
      jobTimeoutMinutes: 360,
      stopGraceSeconds: 10,
      sshCommandTimeoutSeconds: 60,
      transferStallTimeoutSeconds: 600,
      dockerSocket: '/var/run/docker.sock',
      hookTimeoutSeconds: 60,
    });
  });

  it('reads each from BUTTERVOLUME_* first, then config.ini', () => {
    const path = ini(
      '[DEFAULT]\nSSH_USER = backup\nssh_identity_file = /ini/key\nSSH_OPTIONS = Compression=no\n' +
        'SSH_PORT = 2200\nJOB_TIMEOUT = 30\nSSH_COMPRESSION = yes\n',
    );
    const config = loadConfig({
      env: {
        BUTTERVOLUME_SSH_IDENTITY_FILE: '/root/.ssh/bv_ed25519',
        BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: '/etc/buttervolume/known_hosts',
        BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'accept-new',
        BUTTERVOLUME_SSH_BANDWIDTH_LIMIT: '50M',
        BUTTERVOLUME_SCHEDULER_CONCURRENCY: '2',
        BUTTERVOLUME_STOP_GRACE: '0',
      },
      iniPath: path,
    });
    expect(config).toMatchObject({
      sshUser: 'backup',
      sshIdentityFile: '/root/.ssh/bv_ed25519',
      sshKnownHostsFile: '/etc/buttervolume/known_hosts',
      sshStrictHostKeyChecking: 'accept-new',
      sshOptions: ['Compression=no'],
      sshCompression: true,
      sshBandwidthLimit: 50 * 2 ** 20,
      sshPort: 2200,
      schedulerConcurrency: 2,
      jobTimeoutMinutes: 30,
      stopGraceSeconds: 0,
    });
    expect(config.sources).toMatchObject({ SSH_USER: 'ini', SSH_IDENTITY_FILE: 'env' });
    // 3.x's plain SSH_PORT still wins.
    expect(loadConfig({ env: { SSH_PORT: '2222' }, iniPath: path }).sshPort).toBe(2222);
  });

  it('splits SSH_OPTIONS on spaces and commas, keeping commas inside a value', () => {
    const options = (text: string) =>
      loadConfig({ env: { BUTTERVOLUME_SSH_OPTIONS: text }, iniPath: missing }).sshOptions;
    expect(options('ConnectTimeout=5 ServerAliveInterval=20')).toEqual([
      'ConnectTimeout=5',
      'ServerAliveInterval=20',
    ]);
    expect(options('ConnectTimeout=5,Ciphers=aes128-gcm@openssh.com,aes256-ctr')).toEqual([
      'ConnectTimeout=5',
      'Ciphers=aes128-gcm@openssh.com,aes256-ctr',
    ]);
  });

  it.each([
    ['SSH_USER', 'root; id'],
    ['SSH_USER', '-oProxyCommand=x'],
    ['SSH_USER', 'x'.repeat(300)],
    ['SSH_IDENTITY_FILE', 'relative/key'],
    ['SSH_IDENTITY_FILE', '/root/../etc/shadow'],
    ['SSH_IDENTITY_FILE', '/root/my key'],
    ['SSH_KNOWN_HOSTS_FILE', '/tmp/$(touch /tmp/p)'],
    ['SSH_STRICT_HOST_KEY_CHECKING', 'maybe'],
    ['SSH_OPTIONS', '-oProxyCommand=touch /tmp/p'],
    ['SSH_OPTIONS', 'ProxyCommand=$(touch\t/tmp/p)'],
    ['SSH_OPTIONS', 'ProxyCommand="nc x"'],
    ['SSH_OPTIONS', 'Port=22;id'],
    ['SSH_OPTIONS', 'JustAWord'],
    ['SSH_OPTIONS', 'A=b `id`'],
    ['SSH_COMPRESSION', 'sometimes'],
    ['SSH_BANDWIDTH_LIMIT', '0'],
    ['SSH_BANDWIDTH_LIMIT', 'fast'],
    ['SSH_BANDWIDTH_LIMIT', '-5M'],
    ['SCHEDULER_CONCURRENCY', '0'],
    ['SCHEDULER_CONCURRENCY', 'four'],
    ['JOB_TIMEOUT', '-1'],
    ['JOB_TIMEOUT', '1.5'],
    ['JOB_TIMEOUT', '525601'],
    ['STOP_GRACE', 'soon'],
    ['SSH_COMMAND_TIMEOUT', '0'],
    ['TRANSFER_STALL_TIMEOUT', '86401'],
    ['DOCKER_SOCKET', 'docker.sock'],
    ['HOOK_TIMEOUT', '0'],
    ['HOOK_TIMEOUT', '3601'],
    ['SSH_PORT', '70000'],
    ['METRICS_ADDRESS', 'example.com:9101'],
    ['METRICS_ADDRESS', '0'],
    ['METRICS_ADDRESS', '127.0.0.1:70000'],
    ['METRICS_ADDRESS', '300.1.1.1:9101'],
    ['METRICS_ADDRESS', '-p9101'],
    ['METRICS_ADDRESS', '$(touch /tmp/p):9101'],
    ['METRICS_ADDRESS', '[::1:9101'],
  ])('refuses %s=%j naming the variable and where it came from', (key, value) => {
    const fromEnv = () => loadConfig({ env: { [`BUTTERVOLUME_${key}`]: value }, iniPath: missing });
    expect(fromEnv).toThrow(ConfigError);
    expect(fromEnv).toThrow(`Invalid configuration ${key} (from BUTTERVOLUME_${key}): `);
    const path = ini(`[DEFAULT]\n${key} = ${value}\n`);
    expect(() => loadConfig({ env: {}, iniPath: path })).toThrow(
      `Invalid configuration ${key} (from ${path}): `,
    );
  });
});

describe('METRICS_ADDRESS', () => {
  const at = (value: string) =>
    loadConfig({ env: { BUTTERVOLUME_METRICS_ADDRESS: value }, iniPath: missing }).metricsAddress;
  it('is off by default', () => {
    expect(loadConfig({ env: {}, iniPath: missing }).metricsAddress).toBeUndefined();
  });
  it('binds loopback when given a port alone, and an explicit host otherwise', () => {
    expect(at('9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(at(':9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(at('localhost:9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(at('0.0.0.0:9101')).toEqual({ host: '0.0.0.0', port: 9101 });
    expect(at('10.1.2.3:80')).toEqual({ host: '10.1.2.3', port: 80 });
    expect(at('[::1]:9101')).toEqual({ host: '::1', port: 9101 });
  });
});

describe('parseIniDefaults', () => {
  it('follows configparser: case-insensitive keys, comments, %% and %(key)s, other sections ignored', () => {
    const values = parseIniDefaults(
      '# comment\n[DEFAULT]\n; another\nbase = /srv/bv\nVolumes_Path = %(base)s/volumes\n' +
        'dtformat = %%Y-%%m-%%d\n[other]\nTIMER = 1\n',
    );
    expect(values.get('VOLUMES_PATH')).toBe('/srv/bv/volumes');
    expect(values.get('DTFORMAT')).toBe('%Y-%m-%d');
    expect(values.has('TIMER')).toBe(false);
  });
});
