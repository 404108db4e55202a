import { readFile } from 'node:fs/promises';
import { startPipeline, stopSpawner } from '@buttervolume/spawner';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesWritten, ddBytes } from './pipe.js';

afterAll(() => stopSpawner());

describe('bytesWritten', () => {
  it('follows a stage’s written bytes while the kernel moves them, undefined once it is gone', async () => {
    const running = startPipeline([
      { file: 'cat', args: ['/dev/zero'] },
      { file: 'dd', args: ['of=/dev/null', 'bs=1M'] },
    ]);
    const [writer] = await running.pids;
    let written: number | undefined = 0;
    for (let i = 0; i < 100 && (written ?? 0) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      written = await bytesWritten(writer);
    }
    expect(written).toBeGreaterThan(0);
    running.kill();
    await running.done;
    expect(await bytesWritten(writer)).toBeUndefined();
    expect(await bytesWritten(undefined)).toBeUndefined();
  });
});

describe('ddBytes', () => {
  it('reads the byte total from dd statistics', async () => {
    expect(
      ddBytes(
        '0+3 records in\n0+3 records out\n4333 bytes (4.3 kB, 4.2 KiB) copied, 0.01 s, 400 kB/s\n',
      ),
    ).toBe(4333);
    expect(ddBytes('1 byte copied, 0.0001 s, 10 kB/s')).toBe(1);
    expect(ddBytes('dd: error writing')).toBeUndefined();
    expect(await readFile('/proc/self/io', 'utf8')).toMatch(/wchar/);
  });
});
