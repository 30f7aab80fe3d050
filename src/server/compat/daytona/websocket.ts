import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../../../errors.js';
import type { Upgrade } from '../../routes/sandboxes/preview-tunnel.js';

/** RFC 6455 §1.3: the accept key is sha1(key + this GUID), base64. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The client only sends control frames here (close, ping); anything larger than this is refused (1009). */
const MAX_CLIENT_FRAME = 64 * 1024;
/** Unread server bytes past this mean the reader stopped reading: the connection is dropped (1008). */
export const MAX_BUFFERED = 4 * 1024 * 1024;

const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** One server frame: FIN set, never masked (§5.1: servers must not mask). */
export function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

const closePayload = (code: number, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

/** A client frame once whole: its opcode and unmasked payload; `undefined` until enough bytes are in. */
export function parseClientFrame(buf: Buffer): { opcode: number; payload: Buffer; size: number } | 'too_large' | 'unmasked' | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_CLIENT_FRAME)) return 'too_large';
    len = Number(big);
    at = 10;
  }
  if (len > MAX_CLIENT_FRAME) return 'too_large';
  if (!masked) return 'unmasked';
  if (buf.length < at + 4 + len) return undefined;
  const mask = buf.subarray(at, at + 4);
  const payload = Buffer.from(buf.subarray(at + 4, at + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return { opcode: buf[0]! & 0x0f, payload, size: at + 4 + len };
}

/**
 * The server side of one WebSocket that only sends: binary frames out (with a bound on what the
 * reader has not taken), and the client's close and ping honoured. Paddock has no WebSocket
 * library; this is the part of RFC 6455 a log stream needs.
 */
export class ServerSocket {
  private buf: Buffer = Buffer.alloc(0);
  private closing = false;
  readonly closed: Promise<void>;

  constructor(private readonly socket: Duplex) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => socket.destroy());
  }

  get isOpen(): boolean {
    return !this.closing && !this.socket.destroyed;
  }

  sendBinary(payload: Buffer): void {
    if (!this.isOpen) return;
    if (this.socket.writableLength > MAX_BUFFERED) return this.close(1008, 'reader too slow');
    this.socket.write(frame(OP.binary, payload));
  }

  /** Sends a close frame; the socket ends once the client answers, or after a grace period. */
  close(code = 1000, reason = ''): void {
    if (this.closing || this.socket.destroyed) return;
    this.closing = true;
    this.socket.write(frame(OP.close, closePayload(code, reason)));
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Feeds bytes the server read with the request head (Upgrade.head). */
  read(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const f = parseClientFrame(this.buf);
      if (f === undefined) return;
      if (f === 'too_large' || f === 'unmasked') {
        this.close(f === 'too_large' ? 1009 : 1002, f === 'too_large' ? 'frame too large' : 'client frames must be masked');
        this.buf = Buffer.alloc(0);
        return;
      }
      this.buf = this.buf.subarray(f.size);
      if (f.opcode === OP.ping && this.isOpen) this.socket.write(frame(OP.pong, f.payload));
      else if (f.opcode === OP.close) {
        // Echo the client's code (§5.5.1), then end: the client closes after reading it.
        if (!this.closing) this.socket.write(frame(OP.close, f.payload.subarray(0, 2)));
        this.closing = true;
        this.socket.end();
        return;
      }
      // Data and pong frames from the client carry nothing this stream uses.
    }
  }
}

/**
 * Completes the handshake of an Upgrade request routeUpgrades handed over (§4.2.2) and takes
 * the socket from Fastify. No subprotocol or extension is chosen (the SDK offers none for logs).
 */
export function acceptWebSocket(request: FastifyRequest, reply: FastifyReply, upgrade: Upgrade): ServerSocket {
  const h = request.headers;
  const key = h['sec-websocket-key'];
  if (String(h.upgrade ?? '').toLowerCase() !== 'websocket' || typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new PaddockError('validation_failed', 'not a WebSocket handshake (Upgrade: websocket and Sec-WebSocket-Key are required)');
  }
  if (h['sec-websocket-version'] !== '13') {
    reply.header('sec-websocket-version', '13');
    throw new PaddockError('validation_failed', 'only WebSocket version 13 is spoken here');
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  reply.hijack();
  reply.raw.detachSocket(upgrade.socket as never);
  upgrade.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const ws = new ServerSocket(upgrade.socket);
  if (upgrade.head.length) ws.read(upgrade.head);
  return ws;
}
