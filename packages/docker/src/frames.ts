/**
 * Docker's multiplexed stream (exec and attach without a TTY): frames of an 8-byte header
 * `[stream, 0, 0, 0, size (uint32 big-endian)]` then `size` bytes; stream 1 is stdout, 2 stderr.
 * This demultiplexes it into two bounded buffers: past `limit` bytes a stream is counted but
 * no longer kept, so a hook that prints gigabytes costs no memory.
 */
export class FrameDemuxer {
  readonly stdout: BoundedText;
  readonly stderr: BoundedText;
  #pending: Buffer = Buffer.alloc(0);

  constructor(limit: number) {
    this.stdout = new BoundedText(limit);
    this.stderr = new BoundedText(limit);
  }

  push(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (data.length >= 8) {
      const size = data.readUInt32BE(4);
      if (data.length < 8 + size) break;
      const payload = data.subarray(8, 8 + size);
      // Stream 0 (stdin) never comes back; anything unknown is shown as stderr rather than lost.
      (data[0] === 1 ? this.stdout : this.stderr).push(payload);
      data = data.subarray(8 + size);
    }
    // Keep only the incomplete tail; a copy so the big chunk it came from can be freed.
    this.#pending = Buffer.from(data);
  }
}

/** The first `limit` bytes of a stream, and how many bytes there were in all. */
export class BoundedText {
  #chunks: Buffer[] = [];
  #kept = 0;
  total = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.#kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#chunks.push(Buffer.from(part));
    this.#kept += part.length;
  }

  get truncated(): boolean {
    return this.total > this.#kept;
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}
