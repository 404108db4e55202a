import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLoopBtrfs, type LoopBtrfs, requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  Btrfs,
  BtrfsCommandError,
  BtrfsError,
  NoSpaceError,
} from '../../src/index.js';

const btrfs = new Btrfs();
let source: LoopBtrfs;
let other: LoopBtrfs;
let counter = 0;

async function scratch(fs: LoopBtrfs): Promise<string> {
  const dir = join(fs.mountPoint, `t${++counter}`);
  await mkdir(dir);
  return dir;
}

/** Sends `snapshot` (against `parent`) into `dir` and returns what receive reported. */
async function transfer(snapshot: string, dir: string, parent?: string) {
  const send = btrfs.send(snapshot, parent === undefined ? {} : { parent });
  const receive = btrfs.receive(dir);
  const [, , received] = await Promise.all([
    pipeline(send.stream, receive.stream),
    send.done,
    receive.done,
  ]);
  return received;
}

beforeAll(async () => {
  requireRealEnvironment(['btrfs', 'mkfs.btrfs']);
  [source, other] = await Promise.all([
    createLoopBtrfs({ sizeMiB: 512 }),
    createLoopBtrfs({ sizeMiB: 128 }),
  ]);
});
afterAll(async () => {
  await Promise.all([source?.cleanup(), other?.cleanup()]);
});

describe.each([
  ['to another folder of the same filesystem', () => source],
  ['to a separate filesystem', () => other],
])('send/receive %s', (_, target) => {
  it('transfers a full stream, then an incremental one on top of it', async () => {
    const dir = await scratch(source);
    const vol = join(dir, 'vol');
    await btrfs.createSubvolume(vol);
    await writeFile(join(vol, 'kept'), 'first');
    await writeFile(join(vol, 'changed'), 'v1');
    await writeFile(join(vol, 'removed'), 'bye');
    await btrfs.snapshot(vol, join(dir, 'vol@1'), { readonly: true });
    const recvDir = await scratch(target());

    const full = await transfer(join(dir, 'vol@1'), recvDir);
    expect(full).toEqual({ received: 'vol@1', path: join(recvDir, 'vol@1') });
    const sent1 = await btrfs.show(join(dir, 'vol@1'));
    const got1 = await btrfs.show(join(recvDir, 'vol@1'));
    expect(got1.receivedUuid).toBe(sent1.uuid);
    expect(got1.readonly).toBe(true);
    expect(await readFile(join(recvDir, 'vol@1', 'changed'), 'utf8')).toBe('v1');

    await writeFile(join(vol, 'changed'), 'v2');
    await writeFile(join(vol, 'added'), 'new');
    await rm(join(vol, 'removed'));
    await btrfs.snapshot(vol, join(dir, 'vol@2'), { readonly: true });

    const incremental = await transfer(join(dir, 'vol@2'), recvDir, join(dir, 'vol@1'));
    expect(incremental.received).toBe('vol@2');
    const sent2 = await btrfs.show(join(dir, 'vol@2'));
    const got2 = await btrfs.show(join(recvDir, 'vol@2'));
    expect(got2.receivedUuid).toBe(sent2.uuid);
    // An incremental receive snapshots the received parent, then applies the differences.
    expect(got2.parentUuid).toBe(got1.uuid);
    expect(await readFile(join(recvDir, 'vol@2', 'kept'), 'utf8')).toBe('first');
    expect(await readFile(join(recvDir, 'vol@2', 'changed'), 'utf8')).toBe('v2');
    expect(await readFile(join(recvDir, 'vol@2', 'added'), 'utf8')).toBe('new');
    expect(existsSync(join(recvDir, 'vol@2', 'removed'))).toBe(false);
    // The first received snapshot is untouched.
    expect(await readFile(join(recvDir, 'vol@1', 'changed'), 'utf8')).toBe('v1');
  });
});

describe('send/receive failures', () => {
  it('rejects sending a writable subvolume, with btrfs stderr', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'rw'));
    const send = btrfs.send(join(dir, 'rw'));
    send.stream.resume();
    const error = await send.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect((error as BtrfsCommandError).stderr).toMatch(/read-only/);
    expect((error as BtrfsCommandError).command).toEqual(['btrfs', 'send', '--', join(dir, 'rw')]);
  });

  it('rejects an incremental receive whose parent the target does not have', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@2'), { readonly: true });
    const recvDir = await scratch(other);
    await expect(transfer(join(dir, 'vol@2'), recvDir, join(dir, 'vol@1'))).rejects.toBeInstanceOf(
      BtrfsError,
    );
  });

  it('rejects a garbage stream', async () => {
    const recvDir = await scratch(other);
    const receive = btrfs.receive(recvDir);
    await pipeline(Readable.from([Buffer.from('this is not a btrfs stream\n')]), receive.stream);
    const error = await receive.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsError);
    expect((error as BtrfsError).stderr).not.toBe('');
  });

  it('refuses to receive a snapshot that already exists there', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const recvDir = await scratch(other);
    await transfer(join(dir, 'vol@1'), recvDir);
    await expect(transfer(join(dir, 'vol@1'), recvDir)).rejects.toMatchObject({
      code: 'BTRFS_ALREADY_EXISTS',
    });
  });

  it('keeps a received snapshot read-only unless forced, which drops its received UUID', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const recvDir = await scratch(other);
    const { path } = await transfer(join(dir, 'vol@1'), recvDir);
    const received = path ?? '';
    const error = await btrfs.setReadOnly(received, false).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect((error as BtrfsCommandError).stderr).toMatch(/received_uuid/);
    expect(await btrfs.isReadOnly(received)).toBe(true);
    await btrfs.setReadOnly(received, false, { force: true });
    expect(await btrfs.isReadOnly(received)).toBe(false);
    expect((await btrfs.show(received)).receivedUuid).toBeUndefined();
  });

  it('aborts a send nobody reads, and a receive nobody feeds', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await writeFile(join(dir, 'vol', 'big'), randomBytes(8 * 1024 * 1024));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const send = btrfs.send(join(dir, 'vol@1'));
    const receive = btrfs.receive(await scratch(other));
    send.abort();
    receive.abort();
    await expect(send.done).rejects.toBeInstanceOf(AbortedError);
    await expect(receive.done).rejects.toMatchObject({ code: 'BTRFS_ABORTED' });
  });

  it('stops btrfs send when the reader destroys the stream mid-way', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await writeFile(join(dir, 'vol', 'big'), randomBytes(16 * 1024 * 1024));
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const send = btrfs.send(join(dir, 'vol@1'));
    for await (const _chunk of send.stream) break; // for-await's break destroys the stream
    await expect(send.done).rejects.toBeInstanceOf(AbortedError);
  });

  it('delivers the whole stream to a reader that attaches late', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    await writeFile(join(dir, 'vol', 'f'), 'late');
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const send = btrfs.send(join(dir, 'vol@1'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const recvDir = await scratch(other);
    const receive = btrfs.receive(recvDir);
    await Promise.all([pipeline(send.stream, receive.stream), send.done, receive.done]);
    expect(await readFile(join(recvDir, 'vol@1', 'f'), 'utf8')).toBe('late');
  });

  it('fails with NoSpaceError when the stream does not fit on the target', async () => {
    const dir = await scratch(source);
    await btrfs.createSubvolume(join(dir, 'vol'));
    // Random data does not compress or deduplicate: 160 MiB cannot fit in a 128 MiB filesystem.
    for (let i = 0; i < 10; i++) {
      await writeFile(join(dir, 'vol', `chunk${i}`), randomBytes(16 * 1024 * 1024));
    }
    await btrfs.snapshot(join(dir, 'vol'), join(dir, 'vol@1'), { readonly: true });
    const recvDir = await scratch(other);
    const send = btrfs.send(join(dir, 'vol@1'));
    const receive = btrfs.receive(recvDir);
    const [piped, sent, received] = await Promise.allSettled([
      pipeline(send.stream, receive.stream),
      send.done,
      receive.done,
    ]);
    expect(piped.status).toBe('rejected');
    expect(sent.status).toBe('rejected');
    expect(received.status).toBe('rejected');
    const error = (received as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(NoSpaceError);
    expect((error as NoSpaceError).stderr).toMatch(/No space left on device/);
    expect((error as NoSpaceError).code).toBe('BTRFS_NO_SPACE');
  });
});
