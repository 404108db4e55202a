import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { ddBytes } from './pipe.js';
import { ALREADY_RECEIVED, RECEIVE_SCRIPT, RECEIVE_STARTED, receiveCommand } from './remote.js';
import { remoteCommand } from './ssh.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

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
    expect(receiveCommand('/usr/bin/btrfs', '/s/v@1', '/s')).toEqual([
      'sh',
      '-c',
      RECEIVE_SCRIPT,
      'sh',
      '/s/v@1',
      '/s',
      '/usr/bin/btrfs',
    ]);
    expect(RECEIVE_SCRIPT).not.toContain('/s');
    expect(RECEIVE_SCRIPT).not.toContain("'");
    expect(RECEIVE_SCRIPT).not.toContain('\n');
  });

  it('with nothing at the target, goes straight to receive into the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-recv-'));
    dirs.push(dir);
    const result = await runAsSshd(join(dir, 'v@1'), dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
  });

  it('counts the stream on its way into receive, on stdout, leaving stderr to receive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-recv-'));
    dirs.push(dir);
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
    const dir = await mkdtemp(join(tmpdir(), 'bv-recv-'));
    dirs.push(dir);
    const target = join(dir, 'v@1');
    await mkdir(target);
    // `echo` answers the flag query with its own words, never `ro=true`; the delete's output
    // is discarded, so only the receive shows.
    const result = await runAsSshd(target, dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
    expect(result.stdout).not.toContain(ALREADY_RECEIVED);
  });

  it('a flag query that fails stops before any delete or receive, with its own exit code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-recv-'));
    dirs.push(dir);
    const target = join(dir, 'v@1');
    await mkdir(target);
    const line = remoteCommand(receiveCommand('/bin/false', target, dir));
    const result = await execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });
    expect(result.exitCode).toBe(102);
    expect(existsSync(target)).toBe(true);
  });

  it('never expands what the paths contain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-recv-'));
    dirs.push(dir);
    const canary = join(dir, 'canary');
    const target = `${dir}/$(touch ${canary})\`touch ${canary}\`;touch ${canary}`;
    const result = await runAsSshd(target, dir);
    expect(result.exitCode).toBe(0);
    expect(withoutCount(result.stdout)).toBe(`${RECEIVE_STARTED}\nreceive -- ${dir}`);
    expect(existsSync(canary)).toBe(false);
  });
});
