import { describe, expect, it } from 'vitest';
import { HelloScanner } from './serial.js';

const frame = (stream: number, type: number, payload: string | Buffer) => {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(9);
  h.writeUInt32BE(p.length, 0);
  h.writeUInt32BE(stream, 4);
  h[8] = type;
  return Buffer.concat([h, p]);
};

async function scan(nonce: string, chunks: Buffer[]): Promise<Buffer> {
  const s = new HelloScanner(nonce);
  const out: Buffer[] = [];
  s.on('data', (c: Buffer) => out.push(c));
  for (const c of chunks) s.write(c);
  s.end();
  await new Promise((r) => s.once('end', r));
  return Buffer.concat(out);
}

describe('HelloScanner', () => {
  const hello = frame(0, 1, '{"pid":1,"protocol":1,"sync":"abc","version":"0.1.0"}');
  const after = frame(1, 8, '{"exit_code":0}');

  it('passes the bytes on from the HELLO that echoes the nonce, dropping what came before', async () => {
    // What an old connection left in flight: output of an exec, the tail of a frame, an old HELLO.
    const junk = Buffer.concat([frame(3, 3, Buffer.from([1, 0x41, 0x42])), Buffer.from([7, 7, 7]), frame(0, 1, '{"pid":1,"protocol":1,"sync":"old"}')]);
    expect(await scan('abc', [junk, hello, after])).toEqual(Buffer.concat([hello, after]));
  });

  it('a job printing a HELLO without the nonce forges nothing, whatever the chunking', async () => {
    const forged = frame(0, 1, '{"pid":1,"protocol":1,"version":"0.1.0"}');
    const all = Buffer.concat([forged, hello, after]);
    // One byte at a time: the HELLO is found across chunk boundaries too.
    const bytes = [...all].map((b) => Buffer.from([b]));
    expect(await scan('abc', bytes)).toEqual(Buffer.concat([hello, after]));
  });

  it('keeps memory bounded while nothing matches', async () => {
    const s = new HelloScanner('abc');
    for (let i = 0; i < 64; i++) s.write(Buffer.alloc(64 * 1024, 0x20));
    expect((s as unknown as { buf: Buffer }).buf.length).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
  });
});
