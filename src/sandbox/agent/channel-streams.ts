import { Duplex, Readable, Writable } from 'node:stream';
import type { Inbound } from './inbound.js';
import { INBOUND_HIGH_WATER } from './inbound.js';
import type { OpStream } from './op-stream.js';
import { Channel, type InboundChannel } from './protocol.js';

/*
 * Node streams over a stream's channels. Each has an 'error' listener of its own: a consumer that
 * forgot one must not turn an agent's failure into an uncaught exception in the runner (consumers
 * that care listen too, or use pipeline()).
 */

const ignore = () => {};

/** An agent → runner channel as a Readable; destroying it discards the rest (still credited). */
export class ChannelReadable extends Readable {
  private inbound: Inbound | null = null;

  constructor(
    op: OpStream,
    channel: InboundChannel,
    private readonly onDestroy: () => void = ignore,
  ) {
    super({ highWaterMark: INBOUND_HIGH_WATER });
    this.on('error', ignore);
    this.inbound = op.attach(channel, this);
  }

  get receivedBytes(): number {
    return this.inbound?.receivedBytes ?? 0;
  }

  override _read(): void {
    this.inbound?.read();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inbound?.discard();
    // Destroyed after its end (autoDestroy) is no reason to cancel anything.
    if (!this.readableEnded) this.onDestroy();
    cb(err);
  }
}

/** Channel 0 as a Writable: writes wait for the agent's credit, end() sends EOF. */
export class ChannelWritable extends Writable {
  constructor(private readonly op: OpStream) {
    super({ highWaterMark: INBOUND_HIGH_WATER });
    this.on('error', ignore);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // Bytes written after the stream ended go nowhere, as into a pipe whose reader is gone.
    this.op.write(chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.op.endInput();
    cb();
  }
}

/** A TCP connection inside the sandbox (connect or accepted): channel 1 in, channel 0 out. */
export class ChannelSocket extends Duplex {
  private readonly inbound: Inbound;

  constructor(private readonly op: OpStream) {
    super({ allowHalfOpen: true, readableHighWaterMark: INBOUND_HIGH_WATER, writableHighWaterMark: INBOUND_HIGH_WATER });
    this.on('error', ignore);
    this.inbound = op.attach(Channel.OUT, this);
    // The stream's end (RESULT: both directions closed) or failure ends the socket.
    op.done.then(
      () => this.writableFinished || this.destroyed || this.end(),
      (err: Error) => this.destroy(err),
    );
  }

  override _read(): void {
    this.inbound.read();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.op.write(chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.op.endInput();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Destroyed before both directions closed: reset the connection.
    this.inbound.discard();
    if (!(this.readableEnded && this.writableFinished)) this.op.cancel();
    cb(err);
  }
}
