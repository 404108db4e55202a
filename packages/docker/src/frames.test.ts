import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDemuxer } from './frames.js';

function frame(stream: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('FrameDemuxer', () => {
  it('splits stdout and stderr frames', () => {
    const demux = new FrameDemuxer(100);
    demux.push(Buffer.concat([frame(1, 'out'), frame(2, 'err'), frame(1, '!')]));
    expect(demux.stdout.text()).toBe('out!');
    expect(demux.stderr.text()).toBe('err');
  });

  it('gives the same result however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(1, 2), fc.string({ maxLength: 40 })), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 30 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map(([s, p]) => frame(s, p)));
          const demux = new FrameDemuxer(1_000_000);
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const size = cuts[i % cuts.length] as number;
            demux.push(wire.subarray(at, at + size));
            at += size;
          }
          const want = (s: number) =>
            frames
              .filter(([stream]) => stream === s)
              .map(([, p]) => p)
              .join('');
          expect(demux.stdout.text()).toBe(want(1));
          expect(demux.stderr.text()).toBe(want(2));
        },
      ),
    );
  });

  it('keeps at most the limit and says it dropped the rest', () => {
    const demux = new FrameDemuxer(5);
    demux.push(frame(1, 'abc'));
    expect(demux.stdout.truncated).toBe(false);
    demux.push(frame(1, 'defgh'));
    expect(demux.stdout.text()).toBe('abcde');
    expect(demux.stdout.total).toBe(8);
    expect(demux.stdout.truncated).toBe(true);
  });
});
