import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseIniDefaults } from './index.js';

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

  it.each([
    [{ BUTTERVOLUME_TIMER: '0' }, /TIMER/],
    [{ BUTTERVOLUME_TIMER: '-5' }, /TIMER/],
    [{ BUTTERVOLUME_TIMER: 'soon' }, /TIMER/],
    [{ BUTTERVOLUME_VOLUMES_PATH: 'relative/path' }, /VOLUMES_PATH.*absolute/],
    [{ BUTTERVOLUME_LOGLEVEL: 'LOUD' }, /LOGLEVEL/],
    [{ BUTTERVOLUME_DTFORMAT: 'plain' }, /DTFORMAT/],
  ])('rejects %j with a clear error', (env, message) => {
    expect(() => loadConfig({ env, iniPath: missing })).toThrow(message);
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
