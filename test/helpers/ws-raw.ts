import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A minimal RFC 6455 client over a raw socket (Node 20 has no WebSocket client
 * without a flag): the handshake, masked frames out, unmasked frames in.
 */
export interface RawWebSocket {
  /** Status line and headers of the handshake answer. */
  status: number;
  headers: Record<string, string>;
  /** Whatever followed the head (a non-101 answer's body). */
  rest: Buffer;
  socket: Socket;
  send(payload: Buffer | string, opcode?: number): void;
  /** The next frame from the server. */
  next(timeoutMs?: number): Promise<{ opcode: number; payload: Buffer }>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const wsAccept = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

export async function openWebSocket(url: string, path: string, headers: Record<string, string> = {}): Promise<RawWebSocket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `host: ${headers.host ?? `${hostname}:${port}`}`,
    'connection: Upgrade',
    'upgrade: websocket',
    'sec-websocket-version: 13',
    `sec-websocket-key: ${key}`,
    ...Object.entries(headers)
      .filter(([k]) => k !== 'host')
      .map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);

  let buf = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  let ended = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiters.splice(0).forEach((w) => w());
  });
  socket.once('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  const more = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (ended) return reject(new Error('connection closed'));
      const timer = setTimeout(() => reject(new Error('timed out waiting for the server')), timeoutMs);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  while (buf.indexOf('\r\n\r\n') < 0) await more(10_000);
  const end = buf.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  buf = buf.subarray(end + 4);
  const got: Record<string, string> = {};
  for (const l of headerLines) got[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  const status = Number(statusLine!.split(' ')[1]);
  if (status === 101 && got['sec-websocket-accept'] !== wsAccept(key)) throw new Error('bad Sec-WebSocket-Accept');

  return {
    status,
    headers: got,
    get rest() {
      return buf;
    },
    socket,
    closed,
    send(payload, opcode = 1) {
      const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
      const mask = randomBytes(4);
      const len = data.length;
      const head =
        len < 126
          ? Buffer.from([0x80 | opcode, 0x80 | len])
          : len < 65536
            ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
            : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigEndian64(len)]);
      const masked = Buffer.alloc(len);
      for (let i = 0; i < len; i++) masked[i] = data[i]! ^ mask[i & 3]!;
      socket.write(Buffer.concat([head, mask, masked]));
    },
    async next(timeoutMs = 10_000) {
      for (;;) {
        const frame = parseFrame(buf);
        if (frame) {
          buf = buf.subarray(frame.size);
          return { opcode: frame.opcode, payload: frame.payload };
        }
        await more(timeoutMs);
      }
    },
  };
}

function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function parseFrame(b: Buffer): { opcode: number; payload: Buffer; size: number } | undefined {
  if (b.length < 2) return undefined;
  const opcode = b[0]! & 0x0f;
  let len = b[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (b.length < 4) return undefined;
    len = b.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (b.length < 10) return undefined;
    len = Number(b.readBigUInt64BE(2));
    at = 10;
  }
  if (b[1]! & 0x80) throw new Error('a server frame must not be masked');
  if (b.length < at + len) return undefined;
  return { opcode, payload: b.subarray(at, at + len), size: at + len };
}
