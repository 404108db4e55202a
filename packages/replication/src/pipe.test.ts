import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesWritten, ddBytes, startPipeline } from './pipe.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bv-pipe-'));
  dirs.push(dir);
  return dir;
}

describe('startPipeline', () => {
  it('moves every byte from the first stage to the last, and dd reports the exact count', async () => {
    const out = join(await tempDir(), 'out');
    const size = 3 * 1024 * 1024 + 17;
    const running = startPipeline(
      [
        { command: 'head', args: ['-c', String(size), '/dev/urandom'] },
        { command: 'dd', args: ['bs=1M'] },
        { command: 'dd', args: [`of=${out}`, 'bs=1M'] },
      ],
      { ...process.env, LC_ALL: 'C' },
    );
    const [first, counter, last] = await Promise.all(running.exits);
    expect([first?.code, counter?.code, last?.code]).toEqual([0, 0, 0]);
    expect(ddBytes(counter?.stderr ?? '')).toBe(size);
    expect((await stat(out)).size).toBe(size);
  });

  it('a stage that stops early ends the writers before it (EPIPE), as in a shell', async () => {
    const running = startPipeline(
      [
        { command: 'cat', args: ['/dev/zero'] },
        { command: 'head', args: ['-c', '10'] },
      ],
      process.env,
    );
    const [writer, reader] = await Promise.all(running.exits);
    expect(reader?.code).toBe(0);
    expect(writer?.signal).toBe('SIGPIPE');
  });

  it('reports a command that cannot start instead of hanging', async () => {
    const running = startPipeline(
      [
        { command: '/nonexistent/bv-no-such-binary', args: [] },
        { command: 'cat', args: [] },
      ],
      process.env,
    );
    const [missing, reader] = await Promise.all(running.exits);
    expect(missing?.spawnError?.message).toMatch(/ENOENT/);
    expect(reader?.code).toBe(0);
  });

  it('kill() stops every stage still running', async () => {
    const running = startPipeline(
      [
        { command: 'cat', args: ['/dev/zero'] },
        { command: 'dd', args: ['of=/dev/null', 'bs=1M'] },
      ],
      process.env,
    );
    // The counter moves while data flows through the kernel, not through this process.
    let written: number | undefined = 0;
    for (let i = 0; i < 50 && (written ?? 0) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      written = await bytesWritten(running.pids[0]);
    }
    expect(written).toBeGreaterThan(0);
    running.kill();
    const exits = await Promise.all(running.exits);
    expect(exits.every((exit) => exit.code !== 0)).toBe(true);
    expect(await bytesWritten(running.pids[0])).toBeUndefined();
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
