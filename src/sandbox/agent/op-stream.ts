import { AgentError, protocolError } from './errors.js';
import type { Frame } from './frame.js';
import { Inbound, type InboundTarget } from './inbound.js';
import { AgentErrorBody, parsePayload } from './messages.js';
import type { OpKind, OpSpec } from './op-spec.js';
import { Channel, FrameType, type InboundChannel, MAX_DATA } from './protocol.js';
import { SendWindow } from './send-window.js';

/** What a stream needs from its connection. */
export interface StreamLink {
  /** false: the transport is full, wait for drained() before writing more. */
  sendFrame(stream: number, type: FrameType, payload?: Uint8Array): boolean;
  drained(): Promise<void>;
  forget(stream: OpStream): void;
}

/** Settled promises nobody awaits must not become unhandled rejections. */
function settleable<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * One operation's stream: checks every frame the agent sends on it against the operation's spec,
 * feeds inbound channels, and sends channel 0 within the agent's window. It ends at the agent's
 * RESULT/ERROR, or when the connection fails (fail()).
 */
export class OpStream {
  /** Values are those of the operation's schemas in op-spec.ts. */
  readonly started: Promise<unknown>;
  readonly done: Promise<unknown>;
  private readonly settleStarted = settleable<unknown>();
  private readonly settleDone = settleable<unknown>();
  private readonly inbound = new Map<InboundChannel, Inbound>();
  private readonly window: SendWindow | null;
  private hasStarted = false;
  private ended = false;
  private failure: Error | undefined;
  private sentEof = false;
  private sentCancel = false;
  /** A check of RESULT against what came before it; a message is a protocol error. */
  checkResult: ((result: unknown) => string | null) | null = null;
  /** For a listen stream: where the agent's accepted connections go. */
  onAccepted: ((stream: OpStream, peerPort: number) => void) | null = null;

  constructor(
    readonly id: number,
    readonly kind: OpKind,
    private readonly spec: OpSpec,
    private readonly link: StreamLink,
  ) {
    this.started = this.settleStarted.promise;
    this.done = this.settleDone.promise;
    this.window = spec.outbound ? new SendWindow() : null;
    if (spec.started === null) this.settleStarted.resolve(undefined);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  get isStarted(): boolean {
    return this.hasStarted;
  }

  get cancelled(): boolean {
    return this.sentCancel;
  }

  /** Where one inbound channel's bytes go; set up right after opening, before frames can arrive. */
  attach(channel: InboundChannel, target: InboundTarget): Inbound {
    const inbound = new Inbound(target, (n) => this.sendWindow(channel, n));
    this.inbound.set(channel, inbound);
    if (this.ended) inbound.stop(this.failure);
    return inbound;
  }

  /** A frame of the agent's for this stream; throws a protocol error when it breaks a rule. */
  handle(frame: Frame): void {
    const p = frame.payload;
    switch (frame.type) {
      case FrameType.DATA: {
        if (p.length < 1) throw protocolError('DATA without a channel byte');
        this.mustBeStarted('DATA');
        return this.channel(p[0]!, 'DATA').receive(p.subarray(1));
      }
      case FrameType.EOF: {
        if (p.length !== 1) throw protocolError('EOF payload is not one byte');
        const inbound = this.channel(p[0]!, 'EOF');
        if (inbound.ended) throw protocolError('second EOF on a channel');
        return inbound.end();
      }
      case FrameType.WINDOW: {
        if (p.length !== 5) throw protocolError('WINDOW payload is not five bytes');
        if (p[0] !== Channel.IN || this.window === null) throw protocolError(`WINDOW for channel ${p[0]} on ${this.kind}`);
        const increment = p.readUInt32BE(1);
        if (increment === 0) throw protocolError('WINDOW of 0');
        return this.window.grant(increment);
      }
      case FrameType.STARTED: {
        if (this.spec.started === null) throw protocolError(`STARTED on ${this.kind}`);
        if (this.hasStarted) throw protocolError('second STARTED');
        const value = parsePayload(`${this.kind} STARTED`, p, this.spec.started);
        this.hasStarted = true;
        return this.settleStarted.resolve(value);
      }
      case FrameType.RESULT: {
        // A RESULT standing in for STARTED would leave a caller waiting on STARTED: not allowed.
        this.mustBeStarted('RESULT');
        const value = parsePayload(`${this.kind} RESULT`, p, this.spec.result);
        const wrong = this.checkResult?.(value);
        if (wrong) throw protocolError(wrong);
        this.finish();
        return this.settleDone.resolve(value);
      }
      case FrameType.ERROR: {
        const body = parsePayload(`${this.kind} ERROR`, p, AgentErrorBody);
        const err = new AgentError(body.code, `${this.kind}: ${body.message || body.code}`);
        this.finish(err);
        this.settleStarted.reject(err);
        return this.settleDone.reject(err);
      }
      default:
        throw protocolError(`frame type ${frame.type} on an open stream`);
    }
  }

  /** The connection is gone (or the runner refused to open the stream). */
  fail(err: Error): void {
    if (this.ended) return;
    this.finish(err);
    this.settleStarted.reject(err);
    this.settleDone.reject(err);
  }

  /**
   * Sends bytes on channel 0 as the agent's window allows, after STARTED where the operation has
   * one. One writer at a time. false when the stream ended before all was sent.
   */
  async write(data: Uint8Array): Promise<boolean> {
    if (this.window === null) throw new Error(`${this.kind} has no channel 0`);
    if (!(await this.started.then(() => true, () => false))) return false;
    let off = 0;
    while (off < data.length) {
      if (this.ended || this.sentEof) return false;
      const n = await this.window.take(Math.min(MAX_DATA, data.length - off));
      if (n === 0) return false;
      const payload = Buffer.allocUnsafe(1 + n);
      payload[0] = Channel.IN;
      payload.set(data.subarray(off, off + n), 1);
      off += n;
      if (!this.link.sendFrame(this.id, FrameType.DATA, payload)) await this.link.drained();
    }
    return true;
  }

  /** EOF on channel 0: the runner writes no more. */
  endInput(): void {
    if (this.ended || this.sentEof || this.window === null) return;
    this.sentEof = true;
    this.link.sendFrame(this.id, FrameType.EOF, Buffer.of(Channel.IN));
  }

  control(body: object): void {
    if (this.ended) return;
    this.link.sendFrame(this.id, FrameType.CONTROL, Buffer.from(JSON.stringify(body)));
  }

  /** Asks the agent to abort; the stream still ends with its RESULT or ERROR. */
  cancel(): void {
    if (this.ended || this.sentCancel) return;
    this.sentCancel = true;
    this.link.sendFrame(this.id, FrameType.CANCEL);
  }

  /** The document orders STARTED first where an operation has one; output before it is read as a violation. */
  private mustBeStarted(what: string): void {
    if (this.spec.started !== null && !this.hasStarted) throw protocolError(`${what} before STARTED on ${this.kind}`);
  }

  private channel(n: number, what: string): Inbound {
    const inbound = this.inbound.get(n as InboundChannel);
    if (!this.spec.inbound.includes(n as InboundChannel) || !inbound) {
      throw protocolError(`${what} on channel ${n} of ${this.kind}`);
    }
    return inbound;
  }

  private sendWindow(channel: InboundChannel, increment: number): void {
    if (this.ended) return;
    const payload = Buffer.allocUnsafe(5);
    payload[0] = channel;
    payload.writeUInt32BE(increment, 1);
    this.link.sendFrame(this.id, FrameType.WINDOW, payload);
  }

  private finish(err?: Error): void {
    this.ended = true;
    this.failure = err;
    this.window?.close();
    for (const inbound of this.inbound.values()) {
      // A RESULT without EOF first still means the agent sent everything: end the channel.
      if (!err && !inbound.ended) inbound.end();
      inbound.stop(err);
    }
    this.link.forget(this);
  }
}
