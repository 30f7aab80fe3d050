import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { frame, MAX_BUFFERED, parseClientFrame, ServerSocket } from './websocket.js';

/** A client frame as RFC 6455 §5.3 wants it: masked with a key. */
function clientFrame(opcode: number, payload: Buffer, mask = Buffer.from([1, 2, 3, 4])): Buffer {
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([head, mask, masked]);
}

/** A socket whose writes are recorded, and that the test can feed. */
function fakeSocket() {
  const written: Buffer[] = [];
  let ended = false;
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return { socket, written, ended: () => ended };
}

describe('server frames', () => {
  it('are unmasked with FIN, in the three length forms', () => {
    expect([...frame(0x2, Buffer.from('hi'))]).toEqual([0x82, 2, 104, 105]);
    const mid = frame(0x2, Buffer.alloc(300));
    expect([mid[0], mid[1], mid.readUInt16BE(2), mid.length]).toEqual([0x82, 126, 300, 304]);
    const big = frame(0x2, Buffer.alloc(70_000));
    expect([big[1], Number(big.readBigUInt64BE(2)), big.length]).toEqual([127, 70_000, 70_010]);
  });
});

describe('client frames', () => {
  it('are unmasked once whole, and wait for more bytes until then', () => {
    const f = clientFrame(0x9, Buffer.from('ping!'));
    for (let cut = 0; cut < f.length; cut++) expect(parseClientFrame(f.subarray(0, cut))).toBeUndefined();
    expect(parseClientFrame(f)).toEqual({ opcode: 0x9, payload: Buffer.from('ping!'), size: f.length });
    const long = clientFrame(0x2, Buffer.alloc(1000, 7));
    expect(parseClientFrame(long)).toMatchObject({ opcode: 0x2, size: long.length });
  });

  it('unmasked or past the size cap are refused without waiting for their payload', () => {
    expect(parseClientFrame(Buffer.from([0x82, 0x05]))).toBe('unmasked');
    const huge = Buffer.alloc(10);
    huge[0] = 0x82;
    huge[1] = 0x80 | 127;
    huge.writeBigUInt64BE(2n ** 40n, 2);
    expect(parseClientFrame(huge)).toBe('too_large');
  });
});

describe('ServerSocket', () => {
  it('answers a ping with a pong carrying its payload', () => {
    const { socket, written } = fakeSocket();
    const ws = new ServerSocket(socket);
    socket.push(clientFrame(0x9, Buffer.from('abc')));
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(written.map((b) => [...b])).toEqual([[0x8a, 3, 97, 98, 99]]);
        expect(ws.isOpen).toBe(true);
        resolve();
      }),
    );
  });

  it('echoes a client close and ends its side; nothing is sent after it', async () => {
    const { socket, written, ended } = fakeSocket();
    const ws = new ServerSocket(socket);
    ws.read(clientFrame(0x8, Buffer.from([0x03, 0xe8, 0x62, 0x79])));
    ws.sendBinary(Buffer.from('late'));
    await new Promise((r) => setImmediate(r));
    expect(written.map((b) => [...b])).toEqual([[0x88, 2, 0x03, 0xe8]]);
    expect(ws.isOpen).toBe(false);
    expect(ended()).toBe(true);
  });

  it('closes with 1002 on an unmasked frame and 1009 on a too large one', () => {
    for (const [bytes, code] of [
      [Buffer.from([0x82, 0x01, 0x00]), 1002],
      [Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0]), 1009],
    ] as const) {
      const { socket, written } = fakeSocket();
      const ws = new ServerSocket(socket);
      ws.read(Buffer.from(bytes));
      expect(written[0]![0]).toBe(0x88);
      expect(written[0]!.readUInt16BE(2)).toBe(code);
      expect(ws.isOpen).toBe(false);
      socket.destroy();
    }
  });

  it('drops a reader that stopped reading (1008) instead of buffering without end', () => {
    const socket = new Duplex({ read() {}, write(_c, _e, _cb) {} }); // never calls back: nothing drains
    const ws = new ServerSocket(socket);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 8; i++) ws.sendBinary(chunk);
    expect(socket.writableLength).toBeLessThan(MAX_BUFFERED + 2 * chunk.length);
    expect(ws.isOpen).toBe(false);
    socket.destroy();
  });
});
