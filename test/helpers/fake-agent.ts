import { PassThrough } from 'node:stream';
import { AgentClient } from '../../src/sandbox/agent/agent-client.js';
import { encodeFrame, type Frame, FrameDecoder } from '../../src/sandbox/agent/frame.js';
import { FrameType } from '../../src/sandbox/agent/protocol.js';
import type { AgentTransport } from '../../src/sandbox/agent/session.js';

/**
 * The agent's end of a connection, scripted by a test: it sends frames (valid or not) and reads
 * what the runner sends. A PassThrough pair stands in for the container's stdio.
 */
export class FakeAgent {
  /** What the runner side uses. */
  readonly transport: AgentTransport;
  readonly toRunner = new PassThrough();
  readonly fromRunner = new PassThrough();
  readonly received: Frame[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  private readonly decoder = new FrameDecoder();
  runnerClosed = false;

  constructor() {
    this.transport = { readable: this.toRunner, writable: this.fromRunner };
    this.fromRunner.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk, (f) => this.received.push(f));
      this.wake();
    });
    this.fromRunner.on('close', () => {
      this.runnerClosed = true;
      this.wake();
    });
    this.toRunner.on('error', () => {});
    this.fromRunner.on('error', () => {});
  }

  send(stream: number, type: FrameType, payload: Uint8Array = Buffer.alloc(0)): void {
    if (!this.toRunner.destroyed) this.toRunner.write(encodeFrame(stream, type, payload));
  }

  json(stream: number, type: FrameType, body: unknown): void {
    this.send(stream, type, Buffer.from(JSON.stringify(body)));
  }

  hello(body: unknown = { protocol: 1, version: '0.1.0', pid: 1 }): void {
    this.json(0, FrameType.HELLO, body);
  }

  /** As DATA frames of at most 65535 bytes each (one frame for empty bytes). */
  data(stream: number, channel: number, bytes: Uint8Array | string): void {
    const b = Buffer.from(bytes);
    let off = 0;
    do {
      const piece = b.subarray(off, off + 65535);
      this.send(stream, FrameType.DATA, Buffer.concat([Buffer.of(channel), piece]));
      off += 65535;
    } while (off < b.length);
  }

  eof(stream: number, channel: number): void {
    this.send(stream, FrameType.EOF, Buffer.of(channel));
  }

  window(stream: number, channel: number, increment: number): void {
    const p = Buffer.alloc(5);
    p[0] = channel;
    p.writeUInt32BE(increment, 1);
    this.send(stream, FrameType.WINDOW, p);
  }

  result(stream: number, body: unknown = {}): void {
    this.json(stream, FrameType.RESULT, body);
  }

  error(stream: number, code: string, message = code): void {
    this.json(stream, FrameType.ERROR, { code, message });
  }

  raw(bytes: Uint8Array): void {
    if (!this.toRunner.destroyed) this.toRunner.write(bytes);
  }

  /** The agent process is gone. */
  die(): void {
    this.toRunner.end();
  }

  /** The next frame from the runner (after those already taken) matching `pred`. */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const f = this.received[this.cursor++]!;
        if (pred(f)) return f;
      }
      if (this.runnerClosed) throw new Error('the runner closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no such frame from the runner in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The next OPEN, as its id and JSON body. */
  async opened(op?: string): Promise<{ id: number; body: Record<string, unknown> }> {
    const f = await this.next((f) => f.type === FrameType.OPEN && (!op || JSON.parse(f.payload.toString()).op === op));
    return { id: f.stream, body: JSON.parse(f.payload.toString()) };
  }

  /** Every frame of `type` on `stream` received so far. */
  all(stream: number, type: FrameType): Frame[] {
    return this.received.filter((f) => f.stream === stream && f.type === type);
  }

  /** Sum of WINDOW increments the runner granted on (stream, channel). */
  granted(stream: number, channel: number): number {
    return this.all(stream, FrameType.WINDOW)
      .filter((f) => f.payload[0] === channel)
      .reduce((n, f) => n + f.payload.readUInt32BE(1), 0);
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

/** A client connected to a fake agent that has said HELLO. */
export async function startFake(): Promise<{ agent: FakeAgent; client: AgentClient }> {
  const agent = new FakeAgent();
  agent.hello();
  return { agent, client: await AgentClient.connect(agent.transport) };
}

/** Bytes the runner sent as DATA on (stream, channel). */
export function sentData(agent: FakeAgent, stream: number, channel = 0): Buffer {
  return Buffer.concat(
    agent
      .all(stream, FrameType.DATA)
      .filter((f) => f.payload[0] === channel)
      .map((f) => f.payload.subarray(1)),
  );
}

export const RESULT_OK = { exit_code: 0, signal: null, wall_ms: 1, cpu_ms: 0, max_rss_kb: 1 };
