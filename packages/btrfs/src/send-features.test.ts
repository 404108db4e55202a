import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canSendCompressed,
  localStreamVersion,
  parseProgsVersion,
  parseStreamVersion,
  sendProtocolArgs,
} from './send-features.js';

const V2 = { progs: [6, 2] as [number, number], streamVersion: 2 };

describe('compressed send detection', () => {
  it('reads btrfs --version as btrfs-progs prints it', () => {
    expect(parseProgsVersion('btrfs-progs v6.2\n')).toEqual([6, 2]);
    expect(parseProgsVersion('btrfs-progs v5.19.1\n+EXPERIMENTAL')).toEqual([5, 19]);
    expect(parseProgsVersion('btrfs-progs v4.20.2')).toEqual([4, 20]);
    expect(parseProgsVersion('')).toBeUndefined();
    expect(parseProgsVersion('bash: btrfs: command not found')).toBeUndefined();
  });

  it('reads the kernel stream version, 1 when missing or garbled', () => {
    expect(parseStreamVersion('2\n')).toBe(2);
    expect(parseStreamVersion('3')).toBe(3);
    expect(parseStreamVersion(undefined)).toBe(1);
    expect(parseStreamVersion('')).toBe(1);
    expect(parseStreamVersion('two')).toBe(1);
    expect(parseStreamVersion('-2')).toBe(1);
  });

  it('uses protocol 2 with compressed data only when both ends can', () => {
    expect(sendProtocolArgs(V2, [6, 2])).toEqual(['--proto', '2', '--compressed-data']);
    expect(sendProtocolArgs({ progs: [5, 19], streamVersion: 2 }, [5, 19])).toHaveLength(3);
  });

  it.each([
    ['old local progs', { progs: [5, 18], streamVersion: 2 }, [6, 2]],
    ['kernel without protocol 2', { progs: [6, 2], streamVersion: 1 }, [6, 2]],
    ['unknown local progs', { progs: undefined, streamVersion: 2 }, [6, 2]],
    ['old receiver', V2, [5, 10]],
    ['receiver not probed', V2, undefined],
  ] as const)('falls back to the version 1 stream: %s', (_why, local, remote) => {
    expect(sendProtocolArgs(local, remote)).toEqual([]);
  });

  it('this end alone: progs 5.19+ and stream version 2', () => {
    expect(canSendCompressed(V2)).toBe(true);
    expect(canSendCompressed({ progs: [5, 18], streamVersion: 2 })).toBe(false);
    expect(canSendCompressed({ progs: [5, 19], streamVersion: 1 })).toBe(false);
  });

  it('reads the sysfs file when given one, 1 when it is absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-h11-sendfeat-'));
    try {
      await writeFile(join(dir, 'v'), '2\n');
      expect(await localStreamVersion(join(dir, 'v'))).toBe(2);
      expect(await localStreamVersion(join(dir, 'missing'))).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
