import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirCache } from './dir-cache.js';

describe('DirCache.recent', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bv-dircache-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers the previous listing while a slow re-read runs, then the fresh one; waits after invalidate()', async () => {
    let reads = 0;
    let delayMs = 0;
    const cache = new DirCache(dir, async () => {
      reads++;
      const value = reads;
      await sleep(delayMs);
      return value;
    });
    expect(await cache.recent()).toBe(1);
    // The folder changes behind our back (past the racy window), and re-reading it is slow, as
    // behind a purge's deletes.
    await sleep(60);
    await writeFile(join(dir, 'new'), '');
    await sleep(60);
    delayMs = 300;
    // Had they waited for the re-read, they would answer 2.
    expect(await cache.recent(20)).toBe(1);
    expect(await cache.recent(20)).toBe(1);
    await sleep(400);
    expect(reads).toBe(2);
    delayMs = 0;
    expect(await cache.recent(20)).toBe(2);
    // Our own change: the next answer is a fresh listing, however long it takes.
    cache.invalidate();
    delayMs = 100;
    expect(await cache.recent(20)).toBe(3);
  });
});
