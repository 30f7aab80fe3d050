import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Inbound } from './inbound.js';

/** A consumer that always wants more and keeps every byte it is handed. */
function collector() {
  const chunks: Buffer[] = [];
  return { chunks, target: { readableLength: 0, push: (c: Buffer | null) => (c && chunks.push(Buffer.from(c)), true), destroy() {} } };
}

describe('Inbound', () => {
  it('hands over every byte of small frames coalesced into slabs, in order (also after a slab was sealed part-full)', () => {
    for (const size of [1, 7, 1000, 2000, 4095]) {
      const { chunks, target } = collector();
      const inbound = new Inbound(target, () => undefined);
      const sent: Buffer[] = [];
      // The consumer asks between frames, so slabs are sealed part-full and their rest reused.
      for (let n = 0; n < 200_000; n += size) {
        const frame = randomBytes(size);
        sent.push(frame);
        inbound.receive(frame);
        inbound.read();
      }
      inbound.end();
      expect(Buffer.concat(chunks).equals(Buffer.concat(sent)), `frames of ${size} B`).toBe(true);
    }
  });
});
