import { describe, expect, it } from 'vitest';
import { PaddockError } from '../../errors.js';
import { encodeFrame, type Frame, FrameDecoder } from './frame.js';
import { FrameType, HEADER_SIZE, MAX_PAYLOAD } from './protocol.js';

function decodeAll(bytes: Buffer, cut: (remaining: number) => number): Frame[] {
  const dec = new FrameDecoder();
  const out: Frame[] = [];
  let most = 0;
  for (let off = 0; off < bytes.length; ) {
    const n = Math.max(1, Math.min(cut(bytes.length - off), bytes.length - off));
    dec.push(bytes.subarray(off, off + n), (f) => out.push(f));
    off += n;
    most = Math.max(most, dec.buffered);
  }
  expect(most).toBeLessThanOrEqual(HEADER_SIZE + MAX_PAYLOAD);
  expect(dec.buffered).toBe(0);
  return out;
}

const sample: Array<[number, FrameType, Buffer]> = [
  [0, FrameType.HELLO, Buffer.from('{"protocol":1,"version":"0.1.0","pid":1}')],
  [1, FrameType.DATA, Buffer.concat([Buffer.of(1), Buffer.alloc(70000 - 4465, 7)])],
  [3, FrameType.CANCEL, Buffer.alloc(0)],
  [0xffffffff, FrameType.WINDOW, Buffer.of(0, 0, 1, 0, 0)],
  [5, FrameType.DATA, Buffer.alloc(MAX_PAYLOAD, 0xab)],
];

describe('frame codec', () => {
  it('encodes the header big-endian: length, stream, type', () => {
    const f = encodeFrame(0x01020304, FrameType.RESULT, Buffer.from('{}'));
    expect([...f.subarray(0, HEADER_SIZE)]).toEqual([0, 0, 0, 2, 1, 2, 3, 4, 8]);
    expect(f.subarray(HEADER_SIZE).toString()).toBe('{}');
    expect(() => encodeFrame(1, FrameType.DATA, Buffer.alloc(MAX_PAYLOAD + 1))).toThrow(RangeError);
  });

  it('round-trips whatever the chunking: whole, byte by byte, random cuts', () => {
    const bytes = Buffer.concat(sample.map(([s, t, p]) => encodeFrame(s, t, p)));
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 100000) + 1;
    for (const cut of [() => bytes.length, () => 1, () => 8, () => 10, rand]) {
      const frames = decodeAll(bytes, cut);
      expect(frames.map((f) => [f.stream, f.type, f.payload])).toEqual(sample);
    }
  });

  it('copies payloads: a frame does not keep its (large) chunk alive', () => {
    const chunk = Buffer.concat([encodeFrame(1, FrameType.DATA, Buffer.of(1, 42)), Buffer.alloc(1 << 20)]);
    const frames: Frame[] = [];
    const dec = new FrameDecoder();
    dec.push(chunk.subarray(0, 11), (f) => frames.push(f));
    expect(frames[0]!.payload.buffer).not.toBe(chunk.buffer);
  });

  it('rejects a length above 65536 and an unknown type at the header, before the payload', () => {
    const long = Buffer.alloc(HEADER_SIZE);
    long.writeUInt32BE(MAX_PAYLOAD + 1, 0);
    long[8] = FrameType.DATA;
    for (const [header, msg] of [
      [long, /length 65537/],
      [Buffer.of(0, 0, 0, 0, 0, 0, 0, 0, 13), /unknown frame type 13/],
      [Buffer.of(0, 0, 0, 0, 0, 0, 0, 0, 0), /unknown frame type 0/],
    ] as const) {
      const dec = new FrameDecoder();
      let err: unknown;
      try {
        dec.push(header, () => {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PaddockError);
      expect((err as PaddockError).code).toBe('agent_protocol_error');
      expect((err as Error).message).toMatch(msg);
      // It stays failed: nothing after a bad header is read as frames.
      expect(() => dec.push(encodeFrame(0, FrameType.PONG), () => {})).toThrow(PaddockError);
    }
  });

  it('holds at most one header and one payload between pushes, on any bytes', () => {
    let seed = 1;
    const next = () => (seed = (Math.imul(seed, 48271) >>> 0) % 0x7fffffff);
    for (let round = 0; round < 200; round++) {
      const dec = new FrameDecoder();
      try {
        for (let i = 0; i < 50; i++) {
          const chunk = Buffer.alloc(next() % 4096);
          for (let j = 0; j < chunk.length; j++) chunk[j] = next() & 0xff;
          // Small lengths now and then, so some random frames get through whole.
          if (chunk.length > 4 && next() % 2 === 0) chunk.writeUInt32BE(next() % 64, 0);
          dec.push(chunk, () => {});
          expect(dec.buffered).toBeLessThanOrEqual(HEADER_SIZE + MAX_PAYLOAD);
        }
      } catch (e) {
        expect((e as PaddockError).code).toBe('agent_protocol_error');
      }
    }
  });
});
