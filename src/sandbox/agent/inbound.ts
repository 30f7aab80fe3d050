import { protocolError } from './errors.js';
import { INITIAL_WINDOW } from './protocol.js';

/** The stream that hands one inbound channel's bytes to the consumer (a Readable or a Duplex). */
export interface InboundTarget {
  push(chunk: Buffer | null): boolean;
  readonly readableLength: number;
  destroy(err?: Error): void;
}

/**
 * Credit goes back once a quarter window has been consumed. With the consumer's buffer below its
 * 64 KiB high-water mark whenever it asks for more, the agent then always has credit left when the
 * consumer is waiting (64 + 64 < 256 KiB), so the two can never wait on each other.
 */
const GRANT_AT = INITIAL_WINDOW / 4;
export const INBOUND_HIGH_WATER = 64 * 1024;
/** Smaller pieces are copied together, so a flood of 1-byte frames is not 256 Ki buffer objects. */
const COALESCE_BELOW = 4096;
const SLAB = 64 * 1024;

/**
 * One (stream, channel) the agent writes on: enforces the window it was given (overrun = protocol
 * error), queues what the consumer has not asked for yet, and grants credit only for bytes the
 * consumer took — a slow consumer stops the grants, so memory stays at one window per channel.
 */
export class Inbound {
  private received = 0;
  private credited = 0;
  private pushed = 0;
  private readonly queue: Buffer[] = [];
  private slab: Buffer | null = null;
  private slabUsed = 0;
  private wanted = false;
  private flushing = false;
  private eof = false;
  private pushedEnd = false;
  private discarding = false;
  private stopped = false;

  constructor(
    private readonly target: InboundTarget,
    private readonly grant: (increment: number) => void,
  ) {}

  get receivedBytes(): number {
    return this.received;
  }

  get ended(): boolean {
    return this.eof;
  }

  /** DATA from the agent. */
  receive(data: Buffer): void {
    if (this.eof) throw protocolError('DATA after EOF on the channel');
    if (this.received + data.length - this.credited > INITIAL_WINDOW) {
      throw protocolError('DATA beyond the window the runner granted');
    }
    this.received += data.length;
    if (this.stopped) return;
    if (this.discarding) return this.maybeGrant();
    if (data.length >= COALESCE_BELOW) {
      this.sealSlab();
      this.queue.push(data);
    } else {
      if (this.slab === null || this.slab.length - this.slabUsed < data.length) {
        this.sealSlab();
        this.slab = Buffer.allocUnsafeSlow(SLAB);
      }
      data.copy(this.slab, this.slabUsed);
      this.slabUsed += data.length;
    }
    this.flush();
  }

  /** EOF from the agent (or the stream's end standing in for it). */
  end(): void {
    this.eof = true;
    if (!this.stopped && !this.discarding) this.flush();
  }

  /** The consumer asks for more (its `_read`). */
  read(): void {
    this.wanted = true;
    this.flush();
  }

  /** The consumer went away: drop what is queued, and keep crediting so the agent is never stuck. */
  discard(): void {
    if (this.discarding) return;
    this.discarding = true;
    this.queue.length = 0;
    this.slab = null;
    this.slabUsed = 0;
    this.maybeGrant();
  }

  /** The stream ended or failed: no more grants; with an error, the consumer sees it. */
  stop(err?: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    if (err && !this.discarding) this.target.destroy(err);
  }

  private sealSlab(): void {
    if (this.slab === null || this.slabUsed === 0) return;
    this.queue.push(this.slab.subarray(0, this.slabUsed));
    // The rest of the slab keeps taking small pieces; slices of it may share its memory.
    this.slab = this.slab.subarray(this.slabUsed);
    this.slabUsed = 0;
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      if (this.wanted && this.queue.length === 0) this.sealSlab();
      while (this.wanted && this.queue.length > 0) {
        const chunk = this.queue.shift()!;
        this.pushed += chunk.length;
        this.wanted = this.target.push(chunk);
        if (this.queue.length === 0) this.sealSlab();
      }
      if (this.eof && !this.pushedEnd && this.queue.length === 0 && this.slabUsed === 0) {
        this.pushedEnd = true;
        this.target.push(null);
      }
    } finally {
      this.flushing = false;
    }
    this.maybeGrant();
  }

  private maybeGrant(): void {
    if (this.stopped || this.eof) return;
    const consumed = this.discarding ? this.received : this.pushed - this.target.readableLength;
    const due = consumed - this.credited;
    if (due < GRANT_AT) return;
    this.credited += due;
    this.grant(due);
  }
}
