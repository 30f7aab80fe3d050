import type { Readable, Writable } from 'node:stream';
import { PaddockError } from '../../errors.js';
import { AgentError, agentDied, protocolError } from './errors.js';
import { encodeFrame, type Frame, FrameDecoder } from './frame.js';
import type { InboundTarget } from './inbound.js';
import { Hello, OpenAccepted, parsePayload } from './messages.js';
import { type OpKind, SPECS } from './op-spec.js';
import { OpStream, type StreamLink } from './op-stream.js';
import { Channel, FrameType, MAX_PAYLOAD, MAX_PING, MAX_STREAMS, PROTOCOL_VERSION } from './protocol.js';

const DISCARD: InboundTarget = { push: () => true, readableLength: 0, destroy: () => {} };

/** The byte stream to one agent: a container's attached stdio, a bwrap pipe pair (may be one Duplex). */
export interface AgentTransport {
  readable: Readable;
  writable: Writable;
}

export interface AgentHello {
  version: string;
  pid: number;
}

/**
 * The connection to one agent: frames in and out, the stream table, HELLO and PING. Operations are
 * built on it in exec.ts, files.ts, fs-ops.ts and tcp.ts (agent-client.ts puts them together).
 *
 * Nothing the agent sends can make this throw or reject outside the promises of operations: a
 * broken rule, a transport error or the end of the stream fails every open operation with one
 * typed error (`agent_protocol_error` or `agent_died`), closes the transport and settles `closed`.
 */
export class AgentSession implements StreamLink {
  /** Settles (never rejects) once the connection is gone, with the reason. */
  readonly closed: Promise<PaddockError>;
  private resolveClosed!: (err: PaddockError) => void;
  private readonly decoder = new FrameDecoder();
  private readonly streams = new Map<number, OpStream>();
  private nextOdd = 1;
  private lastEven = 0;
  private runnerOpen = 0;
  private agentOpen = 0;
  private failure: PaddockError | null = null;
  private hello: AgentHello | null = null;
  private helloWaiters: Array<{ resolve: (h: AgentHello) => void; reject: (e: Error) => void }> = [];
  private readonly pings = new Map<string, { resolve: (ms: number) => void; reject: (e: Error) => void; t0: number }>();
  private pingSeq = 0n;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly transport: AgentTransport) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    const { readable, writable } = transport;
    // Only the first end builds its error (a stack trace each): the others of one close come after it.
    const gone = (why: string) => (err?: unknown) => {
      if (!this.failure) this.fail(agentDied(err instanceof Error ? err.message : why, err));
    };
    readable.on('data', (chunk: Buffer) => this.onData(chunk));
    readable.on('end', gone('the connection ended'));
    readable.on('close', gone('the connection closed'));
    readable.on('error', gone('read error'));
    writable.on('error', gone('write error'));
    writable.on('close', gone('the connection closed'));
    writable.on('drain', () => this.wakeDrain());
  }

  /** A session whose agent said a valid HELLO within `helloTimeoutMs`; else the transport is closed. */
  static async connect(transport: AgentTransport, opts: { helloTimeoutMs?: number } = {}): Promise<AgentSession> {
    const session = new AgentSession(transport);
    const ms = opts.helloTimeoutMs ?? 10_000;
    const timer = setTimeout(() => session.fail(agentDied(`no HELLO within ${ms} ms`)), ms);
    try {
      await session.waitHello();
      return session;
    } finally {
      clearTimeout(timer);
    }
  }

  get agent(): AgentHello | null {
    return this.hello;
  }

  /** Why the connection ended, or null while it is up. */
  get error(): PaddockError | null {
    return this.failure;
  }

  waitHello(): Promise<AgentHello> {
    if (this.hello) return Promise.resolve(this.hello);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.helloWaiters.push({ resolve, reject }));
  }

  /** Round trip to the agent in milliseconds. */
  ping(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const payload = Buffer.alloc(8);
    payload.writeBigUInt64BE(++this.pingSeq);
    return new Promise((resolve, reject) => {
      this.pings.set(payload.toString('hex'), { resolve, reject, t0: performance.now() });
      this.sendFrame(0, FrameType.PING, payload);
    });
  }

  /** Opens a runner stream; a failure to open (closed, too many, too large) fails the stream. */
  open(kind: Exclude<OpKind, 'accepted'>, body: Record<string, unknown>): OpStream {
    const id = this.nextOdd;
    const stream = new OpStream(id, kind, SPECS[kind], this);
    const payload = Buffer.from(JSON.stringify({ ...body, op: kind }));
    if (this.failure) stream.fail(this.failure);
    else if (payload.length > MAX_PAYLOAD) {
      stream.fail(new PaddockError('validation_failed', `the ${kind} request is above ${MAX_PAYLOAD} bytes`));
    } else if (this.runnerOpen >= MAX_STREAMS || id > 0xffffffff) {
      stream.fail(new AgentError('too_many', `more than ${MAX_STREAMS} agent operations at once`));
    } else {
      this.nextOdd += 2;
      this.streams.set(id, stream);
      this.runnerOpen++;
      this.sendFrame(id, FrameType.OPEN, payload);
    }
    return stream;
  }

  /** An operation found the agent breaking the protocol after the fact: end the connection. */
  violation(err: PaddockError): void {
    this.fail(err);
  }

  /** Closes the connection; open operations fail with `agent_died`. */
  close(): void {
    if (!this.failure) this.fail(agentDied('the runner closed the connection'));
  }

  sendFrame(stream: number, type: FrameType, payload?: Uint8Array): boolean {
    if (this.failure) return true;
    try {
      return this.transport.writable.write(encodeFrame(stream, type, payload));
    } catch (err) {
      this.fail(agentDied('write failed', err));
      return true;
    }
  }

  drained(): Promise<void> {
    if (this.failure || !this.transport.writable.writableNeedDrain) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  forget(stream: OpStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (stream.id % 2 === 1) this.runnerOpen--;
    else this.agentOpen--;
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.decoder.push(chunk, (frame) => this.dispatch(frame));
    } catch (err) {
      this.fail(err instanceof PaddockError ? err : protocolError(`runner failed on a frame: ${String(err)}`));
    }
  }

  private dispatch(frame: Frame): void {
    if (this.failure) return;
    if (this.hello === null) return this.onHello(frame);
    switch (frame.type) {
      case FrameType.HELLO:
        throw protocolError('second HELLO');
      case FrameType.PONG:
        return this.onPong(frame);
      case FrameType.OPEN:
        return this.onOpen(frame);
      case FrameType.DATA:
      case FrameType.EOF:
      case FrameType.WINDOW:
      case FrameType.STARTED:
      case FrameType.RESULT:
      case FrameType.ERROR: {
        const stream = frame.stream === 0 ? undefined : this.streams.get(frame.stream);
        if (stream) return stream.handle(frame);
        // Ended streams are ignored (frames cross in flight); streams never opened are not.
        if (frame.stream !== 0 && this.wasOpened(frame.stream)) return;
        throw protocolError(`frame type ${frame.type} for stream ${frame.stream}, which was never opened`);
      }
      default:
        throw protocolError(`frame type ${frame.type} goes runner → agent only`);
    }
  }

  private onHello(frame: Frame): void {
    if (frame.type !== FrameType.HELLO || frame.stream !== 0) throw protocolError('the first frame is not HELLO');
    const h = parsePayload('HELLO', frame.payload, Hello);
    if (h.protocol !== PROTOCOL_VERSION) throw protocolError(`agent speaks protocol ${h.protocol}, not ${PROTOCOL_VERSION}`);
    this.hello = { version: h.version, pid: h.pid };
    const waiters = this.helloWaiters;
    this.helloWaiters = [];
    for (const w of waiters) w.resolve(this.hello);
  }

  private onPong(frame: Frame): void {
    if (frame.stream !== 0 || frame.payload.length > MAX_PING) throw protocolError('PONG off stream 0 or too long');
    const key = frame.payload.toString('hex');
    const ping = this.pings.get(key);
    if (!ping) throw protocolError('PONG for no PING');
    this.pings.delete(key);
    ping.resolve(performance.now() - ping.t0);
  }

  private onOpen(frame: Frame): void {
    const id = frame.stream;
    if (id === 0 || id % 2 === 1) throw protocolError(`agent OPEN on stream ${id}, not an agent (even) id`);
    if (id <= this.lastEven) throw protocolError(`agent OPEN on stream ${id}, not above its last id ${this.lastEven}`);
    const body = parsePayload('OPEN', frame.payload, OpenAccepted);
    this.lastEven = id;
    const listener = this.streams.get(body.listener);
    if (!listener || listener.kind !== 'listen' || !listener.isStarted) {
      throw protocolError(`accepted connection for ${body.listener}, which is no open listen`);
    }
    // The agent counts its streams after ours ended, so it can never see more of its own than we do.
    if (this.agentOpen >= MAX_STREAMS) throw protocolError(`agent opened more than ${MAX_STREAMS} streams`);
    const stream = new OpStream(id, 'accepted', SPECS.accepted, this);
    this.streams.set(id, stream);
    this.agentOpen++;
    if (listener.onAccepted && !listener.cancelled) return listener.onAccepted(stream, body.peer_port);
    // Crossed our CANCEL of the listener: reset it, and drop (and credit) bytes sent before it knew.
    stream.attach(Channel.OUT, DISCARD).discard();
    stream.cancel();
  }

  private wasOpened(id: number): boolean {
    return id % 2 === 1 ? id < this.nextOdd : id <= this.lastEven;
  }

  private wakeDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }

  private fail(err: PaddockError): void {
    if (this.failure) return;
    this.failure = err;
    for (const stream of [...this.streams.values()]) stream.fail(err);
    this.streams.clear();
    for (const ping of this.pings.values()) ping.reject(err);
    this.pings.clear();
    for (const w of this.helloWaiters) w.reject(err);
    this.helloWaiters = [];
    this.wakeDrain();
    this.transport.readable.destroy();
    this.transport.writable.destroy();
    this.resolveClosed(err);
  }
}
