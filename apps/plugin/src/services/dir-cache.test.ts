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

  it('answers the previous listing while a slow re-read runs, then the fresh one; the same after invalidate()', async () => {
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
    // Our own change, not described: a fresh listing when it comes in time...
    cache.invalidate();
    expect(await cache.recent(20)).toBe(3);
    // ...else the listing before (a re-read after invalidate() waited behind a purge's deletes).
    cache.invalidate();
    delayMs = 300;
    expect(await cache.recent(20)).toBe(3);
    await sleep(400);
    expect(await cache.recent(20)).toBe(4);
  });

  it('after patch() (our own change, known), recent() answers the patched value without waiting for a listing; get() lists again', async () => {
    let reads = 0;
    let stuck: Promise<void> | undefined;
    const cache = new DirCache(dir, async () => {
      reads++;
      await stuck; // a readdir queued behind `btrfs subvolume delete`
      return reads * 10;
    });
    expect(await cache.recent()).toBe(10);
    let unstick = () => {};
    stuck = new Promise((resolve) => {
      unstick = resolve;
    });
    cache.patch((value) => value + 1);
    const started = performance.now();
    expect(await cache.recent(1_000)).toBe(11);
    expect(await cache.recent(1_000)).toBe(11);
    expect(performance.now() - started).toBeLessThan(500);
    // Decisions never rest on a patched value: get() waits for the listing.
    let listed: number | undefined;
    const fresh = cache.get().then((value) => {
      listed = value;
    });
    await sleep(50);
    expect(listed).toBeUndefined();
    unstick();
    await fresh;
    expect(listed).toBeGreaterThan(10);
    // A listing started before a patch may miss the change: it is not kept.
    await writeFile(join(dir, 'patched'), '');
    stuck = new Promise((resolve) => {
      unstick = resolve;
    });
    const readsBefore = reads;
    const before = cache.get();
    cache.patch((value) => value + 1);
    unstick();
    expect(await before).toBe((readsBefore + 1) * 10);
    expect(await cache.recent(1_000)).toBe(listed! + 1);
  });

  it('while our own change runs (changing()), recent() answers the value from before and starts no listing', async () => {
    let reads = 0;
    const cache = new DirCache(dir, async () => ++reads);
    expect(await cache.recent()).toBe(1);
    let finish = () => {};
    const change = cache.changing(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    );
    // The change moves the folder's mtime, as each of a purge's deletes does.
    await sleep(60);
    await writeFile(join(dir, 'changing'), '');
    expect(await cache.recent(1_000)).toBe(1);
    expect(reads).toBe(1);
    finish();
    await change;
    cache.patch((value) => value + 100);
    expect(await cache.recent()).toBe(101);
  });
});
