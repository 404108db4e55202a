import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { ddBytes } from './pipe.js';
import {
  ALREADY_RECEIVED,
  CLEAN_SCRIPT,
  cleanCommand,
  RECEIVE_SCRIPT,
  RECEIVE_STARTED,
  receiveCommand,
} from './remote.js';
import { remoteCommand } from './ssh.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed after the test. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/**
 * Runs the remote command line the way sshd does (the login shell parses one string), with
 * `echo` standing in for the btrfs binary so each call shows the words it was given.
 */
async function runAsSshd(target: string, dir: string) {
  const line = remoteCommand(receiveCommand('/bin/echo', target, dir));
  return execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
}

/** stdout without dd's closing statistics (the stream's byte count, see the count test). */
const withoutCount = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => !/records (in|out)$|bytes? .*copied/.test(line))
    .join('\n');

describe('the receiving session', () => {
  it('is fixed text: paths and the btrfs binary only arrive as positional parameters', () => {
    expect(receiveCommand('/usr/bin/btrfs', '/s/v@1', '/s', 'id-1')).toEqual([
      'sh',
      '-c',
      RECEIVE_SCRIPT,
      'sh',
      '/s/v@1',
      '/s',
      '/usr/bin/btrfs',
      'id-1',
    ]);
    const [a, b] = [receiveCommand('b', '/s/v@1', '/s'), receiveCommand('b', '/s/v@1', '/s')];
    expect(a.at(-1)).not.toBe(b.at(-1));
    expect(RECEIVE_SCRIPT).not.toContain('/s');
    expect(RECEIVE_SCRIPT).not.toContain("'");
    expect(RECEIVE_SCRIPT).not.toContain('\n');
  });

  it('with nothing at the target, goes straight to receive into the folder', async () => {
    const dir = await tempDir('bv-recv-');
    const result = await runAsSshd(join(dir, 'v@1'), dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
  });

  it('counts the stream on its way into receive, on stdout, leaving stderr to receive', async () => {
    const dir = await tempDir('bv-recv-');
    // A stand-in for btrfs that drains what dd passes on into the file `receive` (its first
    // argument) and writes nothing to stdout, so dd's statistics are alone there (tee's copy
    // of the stream could land after them).
    const standIn = join(dir, 'fake-btrfs');
    await writeFile(standIn, '#!/bin/sh\nexec cat > "$1"\n', { mode: 0o755 });
    const stream = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const line = remoteCommand(receiveCommand(standIn, join(dir, 'v@1'), dir));
    const result = await execa('sh', ['-c', line], {
      reject: false,
      input: stream,
      cwd: dir,
    });
    expect(result.stderr).not.toMatch(/records|copied/);
    expect((await readFile(join(dir, 'receive'))).equals(stream)).toBe(true);
    const statistics = result.stdout.slice(result.stdout.lastIndexOf('records in'));
    expect(ddBytes(statistics.slice(statistics.indexOf('\n') + 1))).toBe(stream.length);
  });

  it('with something at the target, asks for its read-only flag; not read-only: delete, receive', async () => {
    const dir = await tempDir('bv-recv-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    // `echo` answers the flag query with its own words, never `ro=true`; the delete's output
    // is discarded, so only the receive shows.
    const result = await runAsSshd(target, dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
    expect(result.stdout).not.toContain(ALREADY_RECEIVED);
  });

  // A stand-in whose receive creates the target and fails, as a cut stream leaves it.
  const cutReceive = [
    'receive) mkdir "$3/v@1"; exit 1 ;;',
    'property) echo ro=false ;;',
    'subvolume) rmdir "$4" ;;',
  ].join('\n');

  it('a receive that fails deletes the writable subvolume it left, and exits with its code', async () => {
    const dir = await tempDir('bv-recv-');
    const target = join(dir, 'v@1');
    const standIn = await btrfsStandIn(dir, cutReceive);
    const line = remoteCommand(receiveCommand(standIn, target, dir));
    const result = await execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
    expect(result.exitCode).toBe(1);
    expect(existsSync(target)).toBe(false);
    expect(await calls(dir)).toEqual([
      `receive -- ${dir}`,
      `property get -ts -- ${target} ro`,
      `subvolume delete -- ${target}`,
    ]);
  });

  it('a receive that fails leaves the target alone while another session receives there', async () => {
    const dir = await tempDir('bv-recv-');
    const target = join(dir, 'v@1');
    const standIn = await btrfsStandIn(dir, cutReceive);
    // A later attempt's session: its command line holds the word and the target, not our id.
    const other = execa('sh', ['-c', `sleep 30; : ${RECEIVE_STARTED}`, 'sh', target], {
      reject: false,
    });
    try {
      const line = remoteCommand(receiveCommand(standIn, target, dir));
      const result = await execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
      expect(result.exitCode).toBe(1);
      expect(existsSync(target)).toBe(true);
      expect(await calls(dir)).toEqual([`receive -- ${dir}`]);
    } finally {
      other.kill('SIGKILL');
      await other;
    }
  });

  it('a flag query that fails stops before any delete or receive, with its own exit code', async () => {
    const dir = await tempDir('bv-recv-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    const line = remoteCommand(receiveCommand('/bin/false', target, dir));
    const result = await execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
    expect(result.exitCode).toBe(102);
    expect(existsSync(target)).toBe(true);
  });

  it('a target that vanishes while its flag is asked for counts as absent: receive goes on', async () => {
    const dir = await tempDir('bv-recv-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    // Another clean-up deletes the target just as the flag is asked for.
    const standIn = await btrfsStandIn(
      dir,
      'property) rmdir "$5"; echo "ERROR: Could not open: No such file or directory" >&2; exit 1 ;;',
    );
    const line = remoteCommand(receiveCommand(standIn, target, dir));
    const result = await execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(RECEIVE_STARTED);
    expect(await calls(dir)).toEqual([`property get -ts -- ${target} ro`, `receive -- ${dir}`]);
  });

  it('never expands what the paths contain', async () => {
    const dir = await tempDir('bv-recv-');
    const canary = join(dir, 'canary');
    const target = `${dir}/$(touch ${canary})\`touch ${canary}\`;touch ${canary}`;
    const result = await runAsSshd(target, dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
    expect(existsSync(canary)).toBe(false);
  });
});

/**
 * A stand-in for the btrfs binary that logs each call's words to `calls` in `dir` and runs the
 * given `case` branch (on its first word) before answering like btrfs would otherwise.
 */
async function btrfsStandIn(dir: string, branch: string): Promise<string> {
  const path = join(dir, 'fake-btrfs');
  const log = join(dir, 'calls');
  await writeFile(
    path,
    `#!/bin/sh\necho "$*" >> '${log}'\ncase "$1" in\n${branch}\nesac\nexit 0\n`,
    { mode: 0o755 },
  );
  return path;
}

async function calls(dir: string): Promise<string[]> {
  const path = join(dir, 'calls');
  return existsSync(path) ? (await readFile(path, 'utf8')).split('\n').filter(Boolean) : [];
}

describe('the clean-up after an interrupted receive', () => {
  async function clean(standIn: string, target: string) {
    const line = remoteCommand(cleanCommand(standIn, target));
    return execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
  }

  it('is fixed text: the target and the btrfs binary only arrive as positional parameters', () => {
    expect(cleanCommand('/usr/bin/btrfs', '/s/v@1')).toEqual([
      'sh',
      '-c',
      CLEAN_SCRIPT,
      'sh',
      '/s/v@1',
      '/usr/bin/btrfs',
    ]);
    expect(CLEAN_SCRIPT).not.toContain("'");
    expect(CLEAN_SCRIPT).not.toContain('\n');
  });

  it('deletes a writable (half-received) subvolume', async () => {
    const dir = await tempDir('bv-clean-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    const standIn = await btrfsStandIn(dir, 'property) echo ro=false ;;');
    expect((await clean(standIn, target)).exitCode).toBe(0);
    expect(await calls(dir)).toEqual([
      `property get -ts -- ${target} ro`,
      `subvolume delete -- ${target}`,
    ]);
  });

  it('leaves a read-only (complete) subvolume alone: a late clean-up cannot take a finished copy', async () => {
    const dir = await tempDir('bv-clean-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    const standIn = await btrfsStandIn(dir, 'property) echo ro=true ;;');
    expect((await clean(standIn, target)).exitCode).toBe(0);
    expect(await calls(dir)).toEqual([`property get -ts -- ${target} ro`]);
  });

  it('with nothing at the target, or a target that vanishes meanwhile, does nothing and succeeds', async () => {
    const dir = await tempDir('bv-clean-');
    const standIn = await btrfsStandIn(dir, 'property) rmdir "$5"; exit 1 ;;');
    expect((await clean(standIn, join(dir, 'absent'))).exitCode).toBe(0);
    expect(await calls(dir)).toEqual([]);
    const target = join(dir, 'v@1');
    await mkdir(target);
    expect((await clean(standIn, target)).exitCode).toBe(0);
    expect(await calls(dir)).toEqual([`property get -ts -- ${target} ro`]);
  });

  it('waits for the receiving session of its target to end before it looks', async () => {
    const dir = await tempDir('bv-clean-');
    const target = join(dir, 'v@1');
    const standIn = await btrfsStandIn(dir, 'property) echo ro=false ;;');
    // A receiving session (its command line holds the word and the target) that has not yet
    // made the subvolume: cancelled on its first bytes, it makes it a moment later.
    const session = execa('sh', ['-c', `sleep 1; mkdir "$1"; : ${RECEIVE_STARTED}`, 'sh', target]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await clean(standIn, target)).exitCode).toBe(0);
    await session;
    expect(await calls(dir)).toEqual([
      `property get -ts -- ${target} ro`,
      `subvolume delete -- ${target}`,
    ]);
  });

  it('a flag query that fails on a target still there stops before any delete', async () => {
    const dir = await tempDir('bv-clean-');
    const target = join(dir, 'v@1');
    await mkdir(target);
    const standIn = await btrfsStandIn(dir, 'property) exit 1 ;;');
    expect((await clean(standIn, target)).exitCode).toBe(102);
    expect(await calls(dir)).toEqual([`property get -ts -- ${target} ro`]);
    expect(existsSync(target)).toBe(true);
  });
});
