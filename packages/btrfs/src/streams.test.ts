import { describe, expect, it } from 'vitest';
import { BtrfsCommandError } from './errors.js';
import { startReceive, startSend } from './streams.js';

describe('send/receive processes', () => {
  it('reject done with the command when the binary cannot start, and end the send stream', async () => {
    const send = startSend('/nonexistent/bv-btrfs', '/snap', '/parent');
    const chunks: Buffer[] = [];
    for await (const chunk of send.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).length).toBe(0);
    const error = await send.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BtrfsCommandError);
    expect((error as BtrfsCommandError).command).toEqual([
      '/nonexistent/bv-btrfs',
      'send',
      '-p',
      '/parent',
      '--',
      '/snap',
    ]);

    const receive = startReceive('/nonexistent/bv-btrfs', '/dir');
    const failed = await receive.done.catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BtrfsCommandError);
    // Writing after the failure must not throw or crash the process.
    receive.stream.write('late');
    expect(receive.stream.destroyed).toBe(true);
  });
});
