import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ifPresent, writeFileAtomic } from './index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates a file with the mode asked for, whatever the umask, and leaves no temp file', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{}\n', { mode: 0o640 });
    expect(await readFile(path, 'utf8')).toBe('{}\n');
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('keeps the mode of the file it replaces', async () => {
    const path = join(dir, 'schedule.csv');
    await writeFile(path, 'old', { mode: 0o600 });
    await writeFileAtomic(path, 'new', { mode: 0o644 });
    expect(await readFile(path, 'utf8')).toBe('new');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('writes through a dangling link to its target; the link stays a link', async () => {
    const link = join(dir, 'schedule.csv');
    await symlink('managed.csv', link);
    await writeFileAtomic(link, 'rows');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(join(dir, 'managed.csv'), 'utf8')).toBe('rows');
  });

  it('refuses a loop of links with ELOOP and changes nothing', async () => {
    await symlink('b', join(dir, 'a'));
    await symlink('a', join(dir, 'b'));
    await expect(writeFileAtomic(join(dir, 'a'), 'x')).rejects.toMatchObject({ code: 'ELOOP' });
    expect((await readdir(dir)).sort()).toEqual(['a', 'b']);
  });

  it('leaves the old content when the write stops before the rename', async () => {
    const path = join(dir, 'state.json');
    await writeFile(path, 'old');
    const crash = writeFileAtomic(path, 'new', {
      beforeRename: async () => {
        throw new Error('power cut');
      },
    });
    await expect(crash).rejects.toThrow('power cut');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});

describe('ifPresent', () => {
  it('answers undefined for a missing path only; other failures are thrown', async () => {
    expect(await ifPresent(readFile(join(dir, 'none'), 'utf8'))).toBeUndefined();
    await writeFile(join(dir, 'file'), 'x');
    // ENOTDIR: a path through a file is as missing as a missing one.
    expect(await ifPresent(readFile(join(dir, 'file', 'below'), 'utf8'))).toBeUndefined();
    expect(await ifPresent(readFile(join(dir, 'file'), 'utf8'))).toBe('x');
    // EISDIR is a real problem, not absence.
    await expect(ifPresent(readFile(dir, 'utf8'))).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe('a private file (the daemon’s own state)', () => {
  it('is written 0600, replaced whole, with no temp file left', async () => {
    const path = join(dir, 'mounts.json');
    await writeFileAtomic(path, '{"a":1}', { private: true, durable: false });
    await writeFileAtomic(path, '{"a":2}', { private: true, durable: false });
    expect(await readFile(path, 'utf8')).toBe('{"a":2}');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['mounts.json']);
  });
});
