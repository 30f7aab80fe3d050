import { describe, expect, it } from 'vitest';
import { demuxer } from './demux.js';

const frame = (id: number, text: string) => {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = id;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
};

describe('demuxer', () => {
  it('splits frames, even when chunks cut through headers and payloads', () => {
    const seen: string[] = [];
    const push = demuxer((s, p) => seen.push(`${s}:${p.toString()}`));
    const all = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world')]);
    for (let i = 0; i < all.length; i += 3) push(all.subarray(i, i + 3));
    expect(seen).toEqual(['stdout:hello ', 'stderr:oops', 'stdout:world']);
  });
});
