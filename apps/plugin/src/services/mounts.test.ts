import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MountStateError } from '../errors.js';
import { silentLogger } from '../log.js';
import { MountTable } from './mounts.js';

// In a tmpfs (/run on a Docker host) the table is written at once, elsewhere through the thread
// pool: both ways behave the same.
describe.each([tmpdir(), '/dev/shm'])('MountTable in %s', (base) => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  const statePath = async () => {
    const dir = await mkdtemp(join(base, 'bv-mounts-'));
    dirs.push(dir);
    return join(dir, 'state', 'mounts.json');
  };

  it('remembers mount IDs across a reload', async () => {
    const path = await statePath();
    const table = await MountTable.load(path, silentLogger);
    await table.add('v1', 'b');
    await table.add('v1', 'a');
    await table.add('v2', 'c');
    await table.remove('v2', 'c');
    const again = await MountTable.load(path, silentLogger);
    expect(again.ids('v1')).toEqual(['a', 'b']);
    expect(again.ids('v2')).toEqual([]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      version: 1,
      mounts: { v1: ['b', 'a'] },
    });
  });

  it('starts empty from a corrupt file instead of refusing to start', async () => {
    const path = await statePath();
    const table = await MountTable.load(path, silentLogger);
    await table.add('v1', 'x');
    await writeFile(path, '{not json');
    expect((await MountTable.load(path, silentLogger)).ids('v1')).toEqual([]);
  });

  it('ignores unknown IDs on removal and forgets a whole volume', async () => {
    const table = await MountTable.load(await statePath(), silentLogger);
    await table.remove('nope', 'x');
    await table.add('v1', 'x');
    await table.forget('v1');
    expect(table.ids('v1')).toEqual([]);
  });

  it('a burst of Mounts shares writes, and the file ends with every ID', async () => {
    const path = await statePath();
    const table = await MountTable.load(path, silentLogger);
    await Promise.all(Array.from({ length: 50 }, (_, i) => table.add(`v${i % 5}`, `id${i}`)));
    const saved = JSON.parse(await readFile(path, 'utf8')) as { mounts: Record<string, string[]> };
    expect(Object.values(saved.mounts).flat().sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `id${i}`).sort(),
    );
    await Promise.all(Array.from({ length: 50 }, (_, i) => table.remove(`v${i % 5}`, `id${i}`)));
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 1, mounts: {} });
  });

  it('a Mount that cannot be saved is undone and says where and what to do', async () => {
    const path = await statePath();
    const table = await MountTable.load(path, silentLogger);
    await table.add('v1', 'kept');
    // The folder replaced by a file: every later write fails, as on a full or read-only RUNPATH.
    await rm(dirname(path), { recursive: true });
    await writeFile(dirname(path), 'not a folder');
    const failed = table.add('v1', 'new');
    await expect(failed).rejects.toBeInstanceOf(MountStateError);
    await expect(failed).rejects.toThrow(
      /could not record the mount of v1 in .*mounts\.json.*RUNPATH/,
    );
    expect(table.ids('v1')).toEqual(['kept']);
    // An Unmount that cannot be saved keeps the ID: the disk still says mounted.
    await expect(table.remove('v1', 'kept')).rejects.toThrow(/could not forget the mount of v1/);
    expect(table.ids('v1')).toEqual(['kept']);
    // Space back: the next Mount records both.
    await rm(dirname(path));
    await table.add('v1', 'again');
    expect((await MountTable.load(path, silentLogger)).ids('v1')).toEqual(['again', 'kept']);
  });
});
