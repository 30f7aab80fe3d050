import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { PaddockError } from '../../errors.js';
import { AgentClient } from '../agent/agent-client.js';

/** A frame type of the agent protocol: the first frame of a serial connection (docs/agent-protocol.md). */
const SYNC = 13;
const HEADER = 9;
const MAX_PAYLOAD = 65536;
/** Bytes from before the HELLO kept while looking for it; beyond it the oldest go. */
const SCAN_WINDOW = 256 * 1024;
/** No HELLO this soon: the guest may be stuck inside a frame an old connection left half-sent. */
const RESEND_MS = 1000;
/**
 * Empty type-0 frames, 9 bytes each, enough to end the largest frame a guest can be inside; a whole
 * number of them, so a guest that was at a frame boundary reads them as frames up to the SYNC (one
 * that was not, the agent's byte scan for SYNC finds it anyway).
 */
const PADDING = Buffer.alloc(Math.ceil((MAX_PAYLOAD + HEADER) / HEADER) * HEADER);

function syncFrame(nonce: string): Buffer {
  const payload = Buffer.from(JSON.stringify({ time_ms: Date.now(), seed: randomBytes(32).toString('base64'), nonce }));
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header[8] = SYNC;
  return Buffer.concat([header, payload]);
}

/**
 * Passes the agent's bytes on from this connection's HELLO (the one that echoes our nonce): a VM
 * restored from a snapshot may first send what its previous connection had in flight, and those
 * bytes — a job's output among them — must neither reach the session nor forge a HELLO.
 */
export class HelloScanner extends Transform {
  private buf = Buffer.alloc(0);
  private found = false;
  private readonly needle: Buffer;

  constructor(nonce: string) {
    super();
    this.needle = Buffer.from(`"sync":"${nonce}"`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.found) return done(null, chunk);
    this.buf = Buffer.concat([this.buf, chunk]);
    for (let i = 0; i + HEADER <= this.buf.length; i++) {
      if (this.buf[i + 8] !== 1 || this.buf.readUInt32BE(i + 4) !== 0) continue;
      const len = this.buf.readUInt32BE(i);
      if (len > MAX_PAYLOAD) continue;
      if (i + HEADER + len > this.buf.length) {
        // Maybe the HELLO, not complete yet: keep it and wait for more.
        this.buf = this.buf.subarray(i);
        return done();
      }
      const payload = this.buf.subarray(i + HEADER, i + HEADER + len);
      if (payload.indexOf(this.needle) < 0) continue;
      this.found = true;
      const rest = this.buf.subarray(i);
      this.buf = Buffer.alloc(0);
      return done(null, rest);
    }
    if (this.buf.length > SCAN_WINDOW) this.buf = this.buf.subarray(this.buf.length - HEADER);
    done();
  }
}

/**
 * Opens a connection to the agent on a VM's port (its unix-socket chardev): SYNC, then the HELLO
 * that echoes it. For a restored VM (`resend`), until it comes SYNC is sent again after 64 KiB of
 * padding (empty frames of type 0), which ends any frame the guest was still reading from its
 * earlier connection; a booting guest reads the port from its start and needs none.
 */
export async function connectSerial(
  socketPath: string,
  timeoutMs: number,
  died: Promise<string>,
  opts: { resend: boolean },
): Promise<{ agent: AgentClient; socket: net.Socket }> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  }).catch((err: Error) => {
    throw new PaddockError('driver_error', `cannot reach the VM's agent socket: ${err.message}`);
  });
  socket.on('error', () => undefined); // the session sees the close
  const nonce = randomBytes(12).toString('hex');
  const scanner = new HelloScanner(nonce);
  socket.pipe(scanner);
  socket.write(syncFrame(nonce));
  const resend = opts.resend
    ? setInterval(() => {
        if (!socket.destroyed) socket.write(Buffer.concat([PADDING, syncFrame(nonce)]));
      }, RESEND_MS)
    : undefined;
  try {
    const agent = await Promise.race([
      AgentClient.connect({ readable: scanner, writable: socket }, { helloTimeoutMs: timeoutMs }),
      died.then((why) => Promise.reject(new PaddockError('driver_error', why))),
    ]);
    return { agent, socket };
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearInterval(resend);
  }
}
