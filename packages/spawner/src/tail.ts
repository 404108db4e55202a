/**
 * How much of a process's output is kept by default: the end, where the reason for a failure
 * is. A peer can write any amount on ssh's stderr; holding (and matching) all of it would let
 * it fill memory and stall the event loop.
 */
export const MAX_CAPTURE = 64 * 1024;

/** The last `max` characters of a stream, in linear time however much arrives. */
export class Tail {
  #chunks: string[] = [];
  #length = 0;

  constructor(readonly max: number = MAX_CAPTURE) {}

  push(chunk: string): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    // Compacting only past twice the limit keeps the total work proportional to the input.
    if (this.#length > 2 * this.max) this.#compact();
  }

  text(): string {
    this.#compact();
    return this.#chunks[0] ?? '';
  }

  #compact(): void {
    const joined = this.#chunks.join('');
    const kept = joined.length > this.max ? joined.slice(-this.max) : joined;
    this.#chunks = kept === '' ? [] : [kept];
    this.#length = kept.length;
  }
}
