import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  SpawnerExitedError,
  spawnerPid,
  startPipeline,
  startSpawner,
  stopSpawner,
} from './client.js';
import { allEnded, startTimeSync } from './proc.js';

afterAll(() => stopSpawner());

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bv-spawner-pipeline-'));
  dirs.push(dir);
  return dir;
}

/** The parent pid of a live process (field 4 of /proc/<pid>/stat), undefined once gone. */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined
    ? undefined
    : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Whether `pid` still runs (a zombie counts as gone). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('startPipeline', () => {
  it('connects the stages child to child from the spawner, and reports pids before the end', async () => {
    const out = join(await tempDir(), 'out');
    const size = 3 * 1024 * 1024 + 17;
    const running = startPipeline([
      { file: 'head', args: ['-c', String(size), '--', '/dev/urandom'] },
      { file: 'sleep', args: ['0.3'] }, // holds stdin open, reads nothing: only a filler stage
    ]);
    const [writer] = await running.pids;
    expect(writer).toBeGreaterThan(0);
    expect(await parentOf(writer!)).toBe(spawnerPid());
    running.kill();
    await running.done;

    const copy = startPipeline([
      { file: 'head', args: ['-c', String(size), '--', '/dev/urandom'] },
      { file: 'cat', args: [] },
      { file: 'dd', args: [`of=${out}`, 'bs=1M', 'status=none'] },
    ]);
    const result = await copy.done;
    expect(result.stages.map((stage) => stage.exitCode)).toEqual([0, 0, 0]);
    expect(result.stages[2]?.command).toEqual(['dd', `of=${out}`, 'bs=1M', 'status=none']);
    expect((await stat(out)).size).toBe(size);
  });

  it('keeps the last stage’s stdout and every stderr (their ends)', async () => {
    const result = await startPipeline(
      [
        { file: 'ls', args: ['--', '/nonexistent-spawner-pipeline'] },
        { file: 'printf', args: ['%s', 'x'.repeat(1000)] },
      ],
      { maxStdout: 10 },
    ).done;
    expect(result.stages[0]?.exitCode).toBe(2);
    expect(result.stages[0]?.stderr).toContain('No such file or directory');
    expect(result.stages[1]?.stdout).toBe('x'.repeat(10));
    expect(result.stages[0]?.stdout).toBe('');
  });

  it('a stage that dies mid-stream: each exit arrives as it happens, its writer gets EPIPE', async () => {
    const running = startPipeline([
      { file: 'cat', args: ['/dev/zero'] },
      { file: 'cat', args: [] },
      { file: 'dd', args: ['of=/dev/null', 'bs=1M'] },
    ]);
    const pids = await running.pids;
    process.kill(pids[1]!, 'SIGKILL');
    const middle = await running.exits[1];
    expect(middle).toMatchObject({ signal: 'SIGKILL', exitCode: undefined, pid: pids[1] });
    const [writer, , reader] = (await running.done).stages;
    expect(writer?.signal).toBe('SIGPIPE');
    // The reader sees the end of its input: a shell would report it the same way.
    expect(reader?.exitCode).toBe(0);
  });

  it('reports a command that cannot start instead of hanging', async () => {
    const result = await startPipeline([
      { file: '/nonexistent/bv-no-such-binary', args: [] },
      { file: 'cat', args: [] },
    ]).done;
    expect(result.stages[0]?.spawnError?.message).toMatch(/ENOENT/);
    expect(result.stages[0]?.pid).toBeUndefined();
    expect(result.stages[1]?.exitCode).toBe(0);
  });

  it('abort stops every stage, SIGKILL for one that ignores SIGTERM; a timeout too', async () => {
    const ready = join(await tempDir(), 'ready');
    const controller = new AbortController();
    const running = startPipeline(
      [
        { file: 'cat', args: ['/dev/zero'] },
        {
          file: process.execPath,
          args: [
            '-e',
            "process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(process.argv[1], ''); setTimeout(() => {}, 30000)",
            ready,
          ],
        },
      ],
      { signal: controller.signal, forceKillAfterMs: 200 },
    );
    const pids = await running.pids;
    // Abort only once node ignores SIGTERM (it says so with a file).
    await until(
      () =>
        stat(ready).then(
          () => true,
          () => false,
        ),
      20_000,
    );
    controller.abort();
    const result = await running.done;
    expect(result.canceled).toBe(true);
    expect(result.stages[1]?.signal).toBe('SIGKILL');
    expect(result.stages[0]?.exitCode).toBeUndefined();
    for (const pid of pids) expect(await alive(pid!)).toBe(false);

    const timed = await startPipeline(
      [
        { file: 'sleep', args: ['30'] },
        { file: 'cat', args: [] },
      ],
      { timeoutMs: 100 },
    ).done;
    expect(timed.timedOut).toBe(true);
    expect(timed.stages[0]?.signal).toBe('SIGTERM');

    const already = await startPipeline([{ file: 'sleep', args: ['30'] }], {
      signal: AbortSignal.abort(),
    }).done;
    expect(already).toMatchObject({ canceled: true, stages: [{ pid: undefined }] });
  });

  it('holds the stream to a rate limit when asked, counting the bytes passed', async () => {
    const started = performance.now();
    const result = await startPipeline(
      [
        { file: 'head', args: ['-c', '500000', '--', '/dev/zero'] },
        { file: 'wc', args: ['-c'] },
      ],
      { bytesPerSec: 1_000_000 },
    ).done;
    const elapsed = performance.now() - started;
    expect(result.stages[1]?.stdout.trim()).toBe('500000');
    expect(result.bytes).toBe(500_000);
    expect(elapsed).toBeGreaterThan(400);
    expect(elapsed).toBeLessThan(3000);
  });

  it('fails and stops the stages in flight when the spawner dies', async () => {
    const first = startSpawner();
    const running = startPipeline([
      { file: 'sleep', args: ['30'] },
      { file: 'cat', args: [] },
    ]);
    const pids = await running.pids;
    const starts = pids.map((pid) => startTimeSync(pid!)!);
    process.kill(first!, 'SIGKILL');
    await expect(running.done).rejects.toBeInstanceOf(SpawnerExitedError);
    await expect(running.exits[0]).rejects.toThrow('sleep 30 | cat');
    // The daemon stopped them: no orphan of the dead spawner goes on.
    const stages = pids.map((pid, index) => ({ pid: pid!, started: starts[index]! }));
    expect(await allEnded(stages, 5000)).toBe(true);
  });

  it('kills every stage when the daemon dies', async () => {
    const client = fileURLToPath(new URL('./client.ts', import.meta.url));
    const script = `
      const { startPipeline } = await import(${JSON.stringify(client)});
      const running = startPipeline([{ file: 'cat', args: ['/dev/zero'] }, { file: 'cat', args: [] }, { file: 'dd', args: ['of=/dev/null'] }]);
      console.log(JSON.stringify(await running.pids));
      setTimeout(() => {}, 60000);`;
    const daemon = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        daemon.stdout.setEncoding('utf8');
        daemon.stdout.once('data', resolve);
        daemon.once('exit', () => reject(new Error('the daemon ended early')));
      });
      const pids = JSON.parse(line) as number[];
      expect(pids).toHaveLength(3);
      for (const pid of pids) expect(await alive(pid)).toBe(true);
      daemon.kill('SIGKILL');
      await until(async () => (await Promise.all(pids.map(alive))).every((up) => !up));
    } finally {
      daemon.kill('SIGKILL');
    }
  });
});
