import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  BtrfsCommandError,
  BtrfsError,
  NoSpaceError,
  NoSuchPathError,
  NotASubvolumeError,
  PermissionError,
  QuotaDisabledError,
} from './errors.js';
import { classifyFailure, run } from './run.js';

const failure = (stderr: string) => ({
  command: ['btrfs', 'subvolume', 'snapshot', '--', '/a', '/b'],
  exitCode: 1,
  stderr,
});

describe('classifyFailure', () => {
  it.each([
    ['ERROR: target path already exists: /b', AlreadyExistsError, 'BTRFS_ALREADY_EXISTS'],
    ['ERROR: Not a Btrfs subvolume: Invalid argument', NotASubvolumeError, 'BTRFS_NOT_A_SUBVOLUME'],
    ['ERROR: Could not statfs: No such file or directory', NoSuchPathError, 'BTRFS_NO_SUCH_PATH'],
    ['ERROR: cannot snapshot: No space left on device', NoSpaceError, 'BTRFS_NO_SPACE'],
    ['ERROR: write: Disk quota exceeded', NoSpaceError, 'BTRFS_NO_SPACE'],
    ['ERROR: cannot open: Permission denied', PermissionError, 'BTRFS_PERMISSION'],
    ["ERROR: can't list qgroups: quotas not enabled", QuotaDisabledError, 'BTRFS_QUOTA_DISABLED'],
    ['ERROR: something new', BtrfsCommandError, 'BTRFS_COMMAND_FAILED'],
  ])('maps %j to its class, keeping the command and stderr', (stderr, type, code) => {
    const error = classifyFailure(failure(stderr), '/b');
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(BtrfsError);
    expect(error.code).toBe(code);
    expect(error.stderr).toBe(stderr);
    expect(error.command).toEqual(failure(stderr).command);
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain(stderr);
    expect(error.message).toContain('btrfs subvolume snapshot -- /a /b');
  });
});

describe('run', () => {
  it('reports a missing binary as a BtrfsCommandError naming it', async () => {
    const error = await run('/nonexistent/bv-btrfs', ['--version'], undefined).catch((e) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect(error.command).toEqual(['/nonexistent/bv-btrfs', '--version']);
    expect(error.exitCode).toBeUndefined();
    expect(error.stderr).toMatch(/ENOENT/);
  });
});
