import type { Store } from '../store/store.js';
import type { EventBus } from './event-bus.js';
import { streamDecoder } from '../sandbox/output.js';

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 20;

/**
 * Turns a job's output chunks into stored `stdout`/`stderr` events. Chunks are
 * coalesced (by size or a short timer) so a program writing a byte at a time
 * does not become a million rows, and writes are chained so events keep order.
 */
export class OutputEvents {
  private pending: { stream: 'stdout' | 'stderr'; text: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly decoders = { stdout: streamDecoder(), stderr: streamDecoder() };

  constructor(
    private readonly jobId: string,
    private readonly store: Store,
    private readonly bus: EventBus,
  ) {}

  push = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
    const text = this.decoders[stream](chunk);
    if (!text) return;
    if (this.pending && this.pending.stream !== stream) this.flush();
    if (this.pending) this.pending.text += text;
    else this.pending = { stream, text };
    if (this.pending.text.length >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  };

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const item = this.pending;
    this.pending = undefined;
    if (!item) return;
    this.chain = this.chain.then(async () => {
      const event = await this.store.appendEvent(this.jobId, item.stream, { data: item.text });
      this.bus.publish(this.jobId, event);
    });
  }

  /** Flushes what is left; resolves once every event is stored and published. */
  async close(): Promise<void> {
    this.flush();
    await this.chain;
  }
}
