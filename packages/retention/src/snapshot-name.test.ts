import { describe, expect, it } from 'vitest';
import { parseSnapshotName, UnsupportedFormatError } from './index.js';

process.env.TZ = 'UTC';

const ts = '2026-11-24T19:13:40.123456';

describe('parseSnapshotName', () => {
  it('reads <volume>@<ts>, without a host', () => {
    const parsed = parseSnapshotName(`foo@${ts}`);
    expect(parsed).toEqual({
      name: `foo@${ts}`,
      volume: 'foo',
      timestamp: new Date(2026, 10, 24, 19, 13, 40, 123),
    });
    expect(parsed && 'host' in parsed).toBe(false);
  });

  it('reads a send marker <volume>@<ts>@<host>', () => {
    expect(parseSnapshotName(`foo@${ts}@127.1.2.3`)).toMatchObject({
      volume: 'foo',
      host: '127.1.2.3',
    });
  });

  it('reads other formats', () => {
    expect(parseSnapshotName('foo@20261124', '%Y%m%d')?.timestamp.getDate()).toBe(24);
  });

  it.each([
    'foo',
    `@${ts}`,
    'foo@',
    `foo@${ts}@`,
    `foo@${ts}@h@x`,
    'foo@invalid',
    `foo@${ts.slice(0, -1)}`,
    `foo@@${ts}`,
  ])('%j is not a snapshot name (so never purged)', (name) => {
    expect(parseSnapshotName(name)).toBeUndefined();
  });

  it('refuses a format with "@", which separates the parts', () => {
    expect(() => parseSnapshotName('x', '%Y@%m')).toThrow(UnsupportedFormatError);
  });
});
