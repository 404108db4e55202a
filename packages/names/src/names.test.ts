import { describe, expect, it } from 'vitest';
import {
  HostName,
  InvalidNameError,
  MarkerName,
  ProjectName,
  SnapshotName,
  VolumeName,
} from './index.js';

const hostile = [
  '',
  'a',
  '../x',
  '..',
  'a/b',
  '-rf',
  '.hidden',
  '$(touch /tmp/p)',
  '`id`',
  'x"; rm -rf / #',
  "it's",
  'a b',
  'a@b',
  'x'.repeat(300),
  'new\nline',
  'nul\0byte',
];

describe('VolumeName', () => {
  it('accepts names that follow Docker’s local volume rule', () => {
    for (const name of ['pgdata', 'a1', 'my_vol.v2-x', '0abc', 'x'.repeat(128)]) {
      expect(VolumeName.parse(name)).toBe(name);
    }
  });

  it.each(hostile)('rejects %j with a typed error', (name) => {
    expect(() => VolumeName.parse(name)).toThrow(InvalidNameError);
    expect(VolumeName.is(name)).toBe(false);
  });

  it('rejects values that are not strings', () => {
    for (const value of [undefined, null, 42, ['a'], { name: 'x' }]) {
      expect(() => VolumeName.parse(value)).toThrow(/Invalid volume name/);
    }
  });

  it('keeps a long offending name short in the message', () => {
    const error = (() => {
      try {
        VolumeName.parse('y'.repeat(10_000));
      } catch (e) {
        return e as InvalidNameError;
      }
    })();
    expect(error?.message.length).toBeLessThan(250);
    expect(error?.message).toContain('10000 characters');
    expect(error?.code).toBe('INVALID_NAME');
  });
});

describe('SnapshotName', () => {
  it('accepts <volume>@<timestamp> and splits it', () => {
    const name = SnapshotName.parse('pgdata@2026-11-24T19:13:40.123456');
    const parts = SnapshotName.split(name);
    expect(parts.volume).toBe('pgdata');
    expect(parts.stamp).toBe('2026-11-24T19:13:40.123456');
    expect(parts.timestamp.getFullYear()).toBe(2026);
  });

  it('builds names that parse back', () => {
    const name = SnapshotName.of(VolumeName.parse('v1'), new Date(2026, 0, 2, 3, 4, 5, 678));
    expect(name).toBe('v1@2026-01-02T03:04:05.678000');
    expect(SnapshotName.is(name)).toBe(true);
  });

  it.each([
    ...hostile,
    'pgdata',
    'pgdata@',
    '@2026-11-24T19:13:40.123456',
    'pgdata@not-a-date',
    '../x@2026-11-24T19:13:40.123456',
    'pgdata@2026-11-24T19:13:40.123456@host',
    'pgdata@2026-11-24T19:13:40.123456/../../etc',
  ])('rejects %j', (name) => {
    expect(() => SnapshotName.parse(name)).toThrow(InvalidNameError);
  });
});

describe('MarkerName', () => {
  it('round-trips a marker', () => {
    const snapshot = SnapshotName.parse('v1@2026-11-24T19:13:40.123456');
    const marker = MarkerName.of(snapshot, HostName.parse('backup-1.example.org'));
    expect(marker).toBe('v1@2026-11-24T19:13:40.123456@backup-1.example.org');
    expect(MarkerName.parse(marker)).toBe(marker);
    expect(MarkerName.split(marker)).toEqual({ snapshot, host: 'backup-1.example.org' });
  });

  it('rejects a snapshot name and hostile hosts', () => {
    expect(() => MarkerName.parse('v1@2026-11-24T19:13:40.123456')).toThrow(InvalidNameError);
    expect(() => MarkerName.parse('v1@2026-11-24T19:13:40.123456@-oProxyCommand=x')).toThrow();
  });

  it('reads a 3.x marker whose host part today’s host rule refuses, as found on disk', () => {
    const stored = 'v1@2026-11-24T19:13:40.123456@my_backup';
    expect(MarkerName.is(stored)).toBe(false);
    expect(MarkerName.parseStored(stored)).toBe(stored);
    for (const bad of [
      'v1@2026-11-24T19:13:40.123456@a/b',
      'v1@2026-11-24T19:13:40.123456@..',
      'v1@2026-11-24T19:13:40.123456@-oProxyCommand=x',
      'v1@2026-11-24T19:13:40.123456@$(id)',
      'v1@2026-11-24T19:13:40.123456@',
      'v1@not-a-time@my_backup',
      `v1@2026-11-24T19:13:40.123456@${'h'.repeat(300)}`,
    ]) {
      expect(() => MarkerName.parseStored(bad)).toThrow(InvalidNameError);
    }
  });

  it('refuses a marker that would not fit in a file name', () => {
    const snapshot = SnapshotName.parse(`${'v'.repeat(128)}@2026-11-24T19:13:40.123456`);
    expect(() =>
      MarkerName.of(snapshot, HostName.parse(`${'h'.repeat(60)}.${'h'.repeat(60)}`)),
    ).toThrow(/longer than 255/);
  });
});

describe('HostName', () => {
  it('parses a comma-separated list, spaces around items trimmed', () => {
    expect(HostName.parseList('n2, n3 ,10.0.0.2')).toEqual(['n2', 'n3', '10.0.0.2']);
    for (const bad of ['', 'n2,', 'n2,,n3', 'n2, -oProxyCommand=x', 'n2,a b']) {
      expect(() => HostName.parseList(bad), bad).toThrow(InvalidNameError);
    }
  });

  it('accepts host names and addresses', () => {
    for (const host of ['localhost', 'backup-1.example.org', '10.0.0.2', '::1', 'fe80::1']) {
      expect(HostName.parse(host)).toBe(host);
    }
  });

  it.each([
    '',
    '-oProxyCommand=touch /tmp/p',
    '$(touch /tmp/p)',
    'root@host',
    'host:22',
    'a b',
    'host;id',
    '-p',
    'a..b',
    'x'.repeat(300),
  ])('rejects %j', (host) => {
    expect(() => HostName.parse(host)).toThrow(InvalidNameError);
  });
});

describe('ProjectName', () => {
  it('takes compose project names', () => {
    expect(ProjectName.parse('shop')).toBe('shop');
    expect(ProjectName.parse('my_app-2')).toBe('my_app-2');
  });

  it.each(['', 'Shop', '-rf', '../x', 'a/b', '$(touch /tmp/p)', 'a b', '"x"', 'x'.repeat(300), 5])(
    'refuses %j',
    (raw) => {
      expect(() => ProjectName.parse(raw)).toThrow(InvalidNameError);
    },
  );
});
