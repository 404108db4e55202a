import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import { MountTable } from './mounts.js';

describe('MountTable', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  const statePath = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-mounts-'));
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
});
