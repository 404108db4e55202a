import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeControlDir, removeStaleControlDirs } from './control-dir.js';

/** The pid of a process that has ended (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('ssh control folders', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'bv-control-test-'));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('makes a private folder named after this process', async () => {
    const dir = await makeControlDir(base);
    expect(dir.startsWith(join(base, `bv-ssh-${process.pid}-`))).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('removes the folders of processes that are gone, with what they hold, and keeps the rest', async () => {
    const dead = deadPid();
    await mkdir(join(base, `bv-ssh-${dead}-AbC123`, 'inner'), { recursive: true });
    const kept = [
      `bv-ssh-${process.pid}-XyZ789`, // in use
      'bv-ssh-1-aaaaaa', // pid 1 always runs
      'bv-ssh-Q1w2E3', // an older daemon's: no pid to judge by
      `bv-sshx-${dead}-AbC123`, // not ours
    ];
    for (const name of kept) await mkdir(join(base, name));
    // A link named like a stale folder is neither followed nor removed.
    const target = await mkdtemp(join(tmpdir(), 'bv-control-target-'));
    try {
      await symlink(target, join(base, `bv-ssh-${dead}-LinK00`));
      const made = await makeControlDir(base);
      expect((await readdir(base)).sort()).toEqual(
        [...kept, `bv-ssh-${dead}-LinK00`, basename(made)].sort(),
      );
      expect((await stat(target)).isDirectory()).toBe(true);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  });

  it('says which folders it removed, and sweeps nothing in a folder it cannot read', async () => {
    const gone = join(base, `bv-ssh-${deadPid()}-Zz9Zz9`);
    await mkdir(gone);
    expect(await removeStaleControlDirs(base)).toEqual([gone]);
    expect(await removeStaleControlDirs(join(base, 'missing'))).toEqual([]);
  });
});
