import { describe, expect, it } from 'vitest';
import { VolumeLocks } from './locks.js';

/** A promise and the function that settles it: an operation the test ends when it wants. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

/** Lets every settled promise run its callbacks. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('VolumeLocks', () => {
  it('runs changes of the same volume one after the other, different volumes concurrently', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    const first = gate();
    const a = locks.change('v1', async () => {
      events.push('start a');
      await first.wait;
      events.push('end a');
    });
    const b = locks.change('v1', async () => {
      events.push('b');
    });
    const other = locks.change('v2', async () => {
      events.push('v2');
    });
    await other;
    expect(events).toEqual(['start a', 'v2']);
    first.open();
    await Promise.all([a, b]);
    expect(events).toEqual(['start a', 'v2', 'end a', 'b']);
    expect(locks.size).toBe(0);
  });

  it('lets reads share the volume, and a change wait for them (and them for it)', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    const reading = gate();
    const r1 = locks.read('v', async () => {
      events.push('r1');
      await reading.wait;
    });
    const r2 = locks.read('v', async () => {
      events.push('r2');
    });
    await r2;
    const change = locks.change('v', async () => {
      events.push('change');
    });
    // A read that comes after a waiting change waits behind it: Mounts cannot starve a restore.
    const r3 = locks.read('v', async () => {
      events.push('r3');
    });
    await settle();
    expect(events).toEqual(['r1', 'r2']);
    reading.open();
    await Promise.all([r1, change, r3]);
    expect(events).toEqual(['r1', 'r2', 'change', 'r3']);
  });

  it('runs a purge beside a sync of the same volume; a restore waits for both', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    const syncing = gate();
    const sync = locks.job('v', 'sync', async () => {
      events.push('sync');
      await syncing.wait;
    });
    await locks.job('v', 'purge', async () => {
      events.push('purge');
    });
    const restore = locks.job('v', 'restore', async () => {
      events.push('restore');
    });
    await settle();
    expect(events).toEqual(['sync', 'purge']);
    expect(locks.contentJobOf('v')).toBe('sync');
    syncing.open();
    await Promise.all([sync, restore]);
    expect(events).toEqual(['sync', 'purge', 'restore']);
  });

  it('never makes a read or a change wait for a job, and runs one job at a time per volume', async () => {
    const locks = new VolumeLocks();
    const events: string[] = [];
    const stalled = gate();
    const sync = locks.job('v', 'sync', async () => {
      events.push('sync');
      await stalled.wait;
    });
    await settle();
    expect(locks.contentJobOf('v')).toBe('sync');
    await locks.read('v', async () => {
      events.push('mount');
    });
    await locks.change('v', async () => {
      events.push('swap');
    });
    const second = locks.job('v', 'sync', async () => {
      events.push('second sync');
    });
    await settle();
    expect(events).toEqual(['sync', 'mount', 'swap']);
    stalled.open();
    await Promise.all([sync, second]);
    expect(events).toEqual(['sync', 'mount', 'swap', 'second sync']);
    expect(locks.contentJobOf('v')).toBeUndefined();
    expect(locks.size).toBe(0);
  });

  it('takes several keys without deadlocking when two callers name them in opposite order', async () => {
    const locks = new VolumeLocks();
    let inside = 0;
    let maxInside = 0;
    const op = (keys: string[]) =>
      locks.change(keys, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await settle();
        inside--;
      });
    await Promise.all([op(['a', 'b']), op(['b', 'a']), op(['a', 'b']), op(['b'])]);
    expect(maxInside).toBe(1);
    expect(locks.size).toBe(0);
  });

  it('changes one key while reading another (clone: read the source, create the target)', async () => {
    const locks = new VolumeLocks();
    const held = gate();
    const clone = locks.change('target', () => held.wait, { reading: ['source'] });
    await settle();
    // The source can still be read, not changed.
    await locks.read('source', async () => {});
    let changed = false;
    const change = locks.change('source', async () => {
      changed = true;
    });
    await settle();
    expect(changed).toBe(false);
    held.open();
    await Promise.all([clone, change]);
    expect(changed).toBe(true);
  });

  it('releases the locks when the operation throws', async () => {
    const locks = new VolumeLocks();
    await expect(locks.change('v', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    await expect(
      locks.job('v', 'sync', async () => Promise.reject(new Error('b'))),
    ).rejects.toThrow('b');
    expect(locks.contentJobOf('v')).toBeUndefined();
    await expect(locks.change('v', async () => 42)).resolves.toBe(42);
    expect(locks.size).toBe(0);
  });
});
