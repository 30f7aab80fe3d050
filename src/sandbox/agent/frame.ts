import { protocolError } from './errors.js';
import { type FrameType, HEADER_SIZE, isFrameType, MAX_PAYLOAD } from './protocol.js';

export interface Frame {
  stream: number;
  type: FrameType;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function encodeFrame(stream: number, type: FrameType, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes is above ${MAX_PAYLOAD}`);
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) throw new RangeError(`bad stream id ${stream}`);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  buf.writeUInt32BE(payload.length, 0);
  buf.writeUInt32BE(stream, 4);
  buf.writeUInt8(type, 8);
  buf.set(payload, HEADER_SIZE);
  return buf;
}

/**
 * Incremental decoder: feed chunks of any size. The header is checked as soon as its 9 bytes are in,
 * so a bad length or type fails before any of its payload is buffered; between pushes it holds at
 * most one header and one payload. Payloads are copied out of the chunk, so a frame never pins the
 * (possibly much larger) chunk it arrived in.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerLen = 0;
  private payload: Buffer | null = null;
  private payloadLen = 0;
  private stream = 0;
  private type: FrameType = 1;
  private failed = false;

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.headerLen + this.payloadLen;
  }

  /** Calls onFrame for every complete frame; throws a protocol error (and stays failed) on a bad header. */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failed) throw protocolError('decoder used after an error');
    let off = 0;
    while (off < chunk.length) {
      if (this.payload === null) {
        const n = Math.min(HEADER_SIZE - this.headerLen, chunk.length - off);
        this.header.set(chunk.subarray(off, off + n), this.headerLen);
        this.headerLen += n;
        off += n;
        if (this.headerLen < HEADER_SIZE) return;
        this.startPayload();
        if (this.payload!.length === 0) this.emit(onFrame);
        continue;
      }
      const n = Math.min(this.payload.length - this.payloadLen, chunk.length - off);
      this.payload.set(chunk.subarray(off, off + n), this.payloadLen);
      this.payloadLen += n;
      off += n;
      if (this.payloadLen === this.payload.length) this.emit(onFrame);
    }
  }

  private startPayload(): void {
    const length = this.header.readUInt32BE(0);
    const type = this.header.readUInt8(8);
    if (length > MAX_PAYLOAD) this.fail(`frame length ${length} is above ${MAX_PAYLOAD}`);
    if (!isFrameType(type)) this.fail(`unknown frame type ${type}`);
    this.stream = this.header.readUInt32BE(4);
    this.type = type as FrameType;
    // Pooled for small payloads: whoever keeps one (inbound.ts) copies it out of the pool.
    this.payload = length === 0 ? EMPTY : Buffer.allocUnsafe(length);
    this.payloadLen = 0;
  }

  private emit(onFrame: (frame: Frame) => void): void {
    const frame: Frame = { stream: this.stream, type: this.type, payload: this.payload! };
    this.payload = null;
    this.payloadLen = 0;
    this.headerLen = 0;
    onFrame(frame);
  }

  private fail(message: string): never {
    this.failed = true;
    throw protocolError(message);
  }
}
