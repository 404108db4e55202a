import { constants, existsSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  lstatPaths,
  runCommand,
  SpawnerExitedError,
  spawnerPid,
  startSpawner,
  stopSpawner,
} from './client.js';
import { allEnded, startTimeSync } from './proc.js';

afterAll(() => stopSpawner());

/** The parent pid of a process, from /proc/<pid>/stat (field 4, after the command name). */
function parentOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('runCommand', () => {
  it('starts commands from the spawner process, not from this one', async () => {
    const pid = startSpawner();
    const result = await runCommand('cat', ['--', '/proc/self/stat']);
    expect(result.exitCode).toBe(0);
    expect(parentOf(result.stdout)).toBe(pid);
    expect(pid).not.toBe(process.pid);
  });

  it('passes arguments verbatim, never through a shell', async () => {
    const hostile = ['$(touch /tmp/spawner-pwned)', '`id`', "'; rm -rf x", '-rf', '../x'];
    const result = await runCommand('printf', ['%s\\n', ...hostile]);
    expect(result.stdout.split('\n').slice(0, -1)).toEqual(hostile);
    await expect(readFile('/tmp/spawner-pwned')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('answers the exit code and stderr of a failing command; passes the environment and stdin asked for', async () => {
    const failed = await runCommand('ls', ['--', '/nonexistent-spawner-test']);
    expect(failed.exitCode).toBe(2);
    expect(failed.stderr).toContain('No such file or directory');
    expect(failed.command).toEqual(['ls', '--', '/nonexistent-spawner-test']);
    const env = await runCommand('printenv', ['SPAWNER_TEST'], { env: { SPAWNER_TEST: 'yes' } });
    expect(env.stdout).toBe('yes\n');
    const fed = await runCommand('cat', [], { input: 'line 1\nline 2\n' });
    expect(fed.stdout).toBe('line 1\nline 2\n');
    // stdin closed from the start: cat ends at once instead of waiting.
    expect((await runCommand('cat', [])).stdout).toBe('');
  });

  it('answers once a command exited, though a process it left behind holds its output open', async () => {
    // As ssh starting a shared connection does: its ControlPersist master keeps stderr, and a
    // session that never ends keeps the master.
    const holder = [
      "const { spawn } = require('node:child_process');",
      "const child = spawn('sleep', ['300'], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });",
      'console.log(child.pid); console.error("left behind"); child.unref();',
    ].join('\n');
    const result = await runCommand(process.execPath, ['-e', holder], { timeoutMs: 60_000 });
    const left = Number(result.stdout.trim());
    try {
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, stderr: 'left behind\n' });
      // Still holding the pipes: without the grace, the answer would wait for it to end.
      expect(process.kill(left, 0)).toBe(true);
    } finally {
      process.kill(left, 'SIGKILL');
    }
  });

  it('says why a command could not start', async () => {
    const result = await runCommand('/nonexistent/binary', []);
    expect(result.exitCode).toBeUndefined();
    expect(result.spawnError?.message).toContain('ENOENT');
  });

  it('keeps only the end of large output when asked', async () => {
    const result = await runCommand('head', ['-c', '1000000', '--', '/dev/zero'], {
      maxStdout: 100,
    });
    expect(result.stdout).toHaveLength(100);
  });

  it('stops a command at its timeout and on abort, with SIGKILL if SIGTERM is ignored', async () => {
    const started = Date.now();
    const timed = await runCommand('sleep', ['30'], { timeoutMs: 100 });
    expect(timed).toMatchObject({ timedOut: true, exitCode: undefined, signal: 'SIGTERM' });
    const controller = new AbortController();
    const aborted = runCommand('sleep', ['30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await aborted).toMatchObject({ canceled: true, exitCode: undefined });
    // A process that ignores SIGTERM, stopped once its handler is set (node may take seconds
    // to start under load).
    const ready = join(await mkdtemp(join(tmpdir(), 'bv-stubborn-')), 'ready');
    const stopping = new AbortController();
    const stubborn = runCommand(
      process.execPath,
      [
        '-e',
        `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(ready)}, ''); setTimeout(() => {}, 30000)`,
      ],
      { signal: stopping.signal, forceKillAfterMs: 100 },
    );
    while (!existsSync(ready)) await new Promise((resolve) => setTimeout(resolve, 20));
    stopping.abort();
    expect(await stubborn).toMatchObject({ canceled: true, signal: 'SIGKILL' });
    await rm(dirname(ready), { recursive: true });
    // Not the 30 s the commands would have run.
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  it('fails and stops the commands in flight when the spawner dies, and starts a new one for the next', async () => {
    const first = startSpawner();
    const running = runCommand('sleep', ['30']);
    // Replies come in order: once this one is in, so is the one naming sleep's pid.
    await runCommand('true', []);
    const sleeping = await childOf(first!);
    const started = startTimeSync(sleeping)!;
    process.kill(first!, 'SIGKILL');
    const error = await running.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SpawnerExitedError);
    expect((error as SpawnerExitedError).message).toContain(
      'was killed (SIGKILL) while `sleep 30` was running: it was stopped',
    );
    // Not left running as an orphan of the dead spawner.
    expect(await allEnded([{ pid: sleeping, started }], 5000)).toBe(true);
    const next = await runCommand('true', []);
    expect(next.exitCode).toBe(0);
    expect(spawnerPid()).not.toBe(first);
  });
});

describe('lstatPaths', () => {
  it('answers each path in order: inode and mode, or the error lstat gave (links not followed)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-spawner-lstat-'));
    try {
      const hostile = join(dir, '$(touch x) \'"\n-rf');
      await mkdir(join(dir, 'folder'));
      await writeFile(join(dir, 'file'), '');
      await writeFile(hostile, '');
      await symlink(join(dir, 'folder'), join(dir, 'link'));
      const paths = ['folder', 'file', 'link', 'missing', 'file/below'].map((name) =>
        join(dir, name),
      );
      const answers = await lstatPaths([...paths, hostile]);
      const kinds = answers.map((answer) =>
        answer.error === undefined ? answer.mode & constants.S_IFMT : answer.error.code,
      );
      expect(kinds).toEqual([
        constants.S_IFDIR,
        constants.S_IFREG,
        constants.S_IFLNK,
        'ENOENT',
        'ENOTDIR',
        constants.S_IFREG,
      ]);
      expect(answers[0]).toEqual({
        ino: lstatSync(paths[0]!).ino,
        mode: lstatSync(paths[0]!).mode,
      });
      expect(answers[3]?.error?.message).toContain(paths[3]);
      expect(await lstatPaths([])).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes its calls in the spawner process, and keeps the order of thousands of paths', async () => {
    // /proc/self is the process asking: only the spawner has a thread numbered with its pid.
    const pid = startSpawner()!;
    const [mine] = await lstatPaths([`/proc/self/task/${pid}`]);
    expect(mine?.error).toBeUndefined();
    expect(existsSync(`/proc/self/task/${pid}`)).toBe(false);
    const paths = Array.from({ length: 3000 }, (_, i) =>
      i % 3 === 2 ? `/nonexistent-${i}` : i % 3 ? '/proc' : '/',
    );
    const answers = await lstatPaths(paths);
    expect(
      answers.map((answer) => (answer.error === undefined ? answer.ino : answer.error.code)),
    ).toEqual(
      paths.map((path) => (path.startsWith('/nonexistent') ? 'ENOENT' : lstatSync(path).ino)),
    );
  });

  it('fails with SpawnerExitedError when the spawner dies before answering', async () => {
    const pid = startSpawner()!;
    const answers = lstatPaths(Array.from({ length: 50_000 }, (_, i) => `/proc/self/task/${i}`));
    process.kill(pid, 'SIGKILL');
    await expect(answers).rejects.toBeInstanceOf(SpawnerExitedError);
    expect((await lstatPaths(['/']))[0]?.error).toBeUndefined();
  });
});

/** The pid of the one child `parent` has, once it has one. */
async function childOf(parent: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const children = (await readFile(`/proc/${parent}/task/${parent}/children`, 'utf8')).trim();
    if (children) return Number(children.split(' ')[0]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`process ${parent} started no child`);
}
