import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { VolumeLocks } from './locks.js';

describe('VolumeLocks', () => {
  it('runs operations on the same volume one after the other', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    const op = (id: string, ms: number) =>
      locks.run('v1', async () => {
        events.push(`start ${id}`);
        await sleep(ms);
        events.push(`end ${id}`);
      });
    await Promise.all([op('a', 20), op('b', 1), op('c', 5)]);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(locks.size).toBe(0);
  });

  it('runs different volumes concurrently', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    await Promise.all(
      ['v1', 'v2'].map((key) =>
        locks.run(key, async () => {
          events.push(`start ${key}`);
          await sleep(10);
          events.push(`end ${key}`);
        }),
      ),
    );
    expect(events.slice(0, 2).sort()).toEqual(['start v1', 'start v2']);
  });

  it('takes several keys without deadlocking when two callers name them in opposite order', async () => {
    const locks = new VolumeLocks();
    let inside = 0;
    let maxInside = 0;
    const op = (keys: string[]) =>
      locks.run(keys, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await sleep(5);
        inside--;
      });
    await Promise.all([op(['a', 'b']), op(['b', 'a']), op(['a', 'b']), op(['b'])]);
    expect(maxInside).toBe(1);
    expect(locks.size).toBe(0);
  });

  it('releases the lock when the operation throws', async () => {
    const locks = new VolumeLocks();
    await expect(locks.run('v', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    await expect(locks.run('v', async () => 42)).resolves.toBe(42);
  });
});
