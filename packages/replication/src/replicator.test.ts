import { Btrfs } from '@buttervolume/btrfs';
import type { HostName } from '@buttervolume/names';
import { describe, expect, it } from 'vitest';
import { Replicator } from './replicator.js';

describe('Replicator.forwardSocket input', () => {
  const replicator = new Replicator({
    btrfs: new Btrfs(),
    snapshotsPath: '/nonexistent/snapshots',
    volumesPath: '/nonexistent/volumes',
  });
  const host = 'node2' as HostName;

  it.each([
    'relative.sock',
    '/run/../etc/x.sock',
    '/run/a:b.sock',
    "/run/it's.sock",
    '/run/$(touch /tmp/p).sock',
    '',
  ])('refuses the remote socket %j before running anything', (socket) => {
    expect(() => replicator.forwardSocket(host, socket)).toThrow(/remote socket/);
  });

  it.each(['-rf', '$(touch /tmp/p)', 'a/b', '', 'x'.repeat(300)])(
    'refuses the host %j before running anything',
    (bad) => {
      expect(() => replicator.forwardSocket(bad as HostName, '/run/b.sock')).toThrow();
    },
  );
});
