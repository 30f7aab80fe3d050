import { type PaddockError, toPaddockError } from '../errors.js';
import { utf8Boundary } from '../sandbox/output.js';
import type { OutputStream, Store } from '../store/store.js';
import { isStorageFull, storageFullError } from '../store/storage-full.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import type { EventBus } from './event-bus.js';

/** A stored output event holds at most this much (SSE frames stay small). */
export const ROW_BYTES = 64 * 1024;
/** Pending output is stored at most this often, whatever the write pattern. */
export const FLUSH_MS = 100;
/** While the store is away, a write is tried again this often. */
const STORE_RETRY_MS = 500;

export interface OutputEventsOptions {
  /** Called once when output can no longer be stored (e.g. the disk is full); nothing is stored after. */
  onFail?: (err: PaddockError) => void;
  /** The run's lease: every write carries it, and fails `lease_lost` once the job was taken over. */
  lease?: string | null | undefined;
  /**
   * While the store cannot be reached, writes wait and retry (later output queues behind them, within
   * the job's own output cap) until this says to stop (the runner is shutting down).
   */
  giveUp?: () => boolean;
}

/**
 * Turns a job's output chunks into stored `stdout`/`stderr` events, as raw
 * bytes. Both streams are buffered together and stored every FLUSH_MS (or when
 * one reaches ROW_BYTES) as at most one row per stream per flush, so a program
 * alternating 1-byte writes to stdout and stderr costs ~20 rows a second, not
 * one row per write. Writes are chained so events keep their order, and a
 * failed write never throws: it ends storing (see `failure`).
 */
export class OutputEvents {
  private readonly pending: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly sizes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  /** Streams with pending bytes, in the order their first pending byte came. */
  private order: OutputStream[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Set when storing failed; the job should end with it (reason `storage_full` for a full disk). */
  failure: PaddockError | undefined;

  constructor(
    private readonly jobId: string,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly options: OutputEventsOptions = {},
  ) {}

  push = (stream: OutputStream, chunk: Buffer): void => {
    if (this.failure || chunk.length === 0) return;
    if (this.sizes[stream] === 0 && !this.order.includes(stream)) this.order.push(stream);
    this.pending[stream].push(chunk);
    this.sizes[stream] += chunk.length;
    if (this.sizes[stream] >= ROW_BYTES) this.flush(false);
    else this.timer ??= setTimeout(() => this.flush(false), FLUSH_MS);
  };

  private flush(final: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const rows: { stream: OutputStream; bytes: Buffer }[] = [];
    const left: OutputStream[] = [];
    for (const stream of this.order) {
      const all = Buffer.concat(this.pending[stream], this.sizes[stream]);
      // A character split across flushes waits for its last bytes, so each row decodes on its own.
      const end = final ? all.length : completeUtf8(all);
      for (let at = 0; at < end; ) {
        const cut = end - at <= ROW_BYTES ? end : at + Math.max(1, utf8Boundary(all.subarray(at), ROW_BYTES));
        rows.push({ stream, bytes: all.subarray(at, cut) });
        at = cut;
      }
      this.pending[stream] = end < all.length ? [all.subarray(end)] : [];
      this.sizes[stream] = all.length - end;
      if (end < all.length) left.push(stream);
    }
    this.order = left;
    if (rows.length === 0) return;
    this.chain = this.chain
      .then(async () => {
        if (this.failure) return;
        const events = await this.untilReachable(() => this.store.appendOutput(this.jobId, rows, this.options.lease));
        for (const event of events) this.bus.publish(this.jobId, event);
      })
      .catch((err: unknown) => this.fail(err));
  }

  private async untilReachable<T>(write: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await write();
      } catch (err) {
        if (!isStoreUnavailable(err) || this.options.giveUp?.()) throw err;
        await new Promise((resolve) => setTimeout(resolve, STORE_RETRY_MS));
      }
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = isStorageFull(err) ? storageFullError(err) : toPaddockError(err);
    this.pending.stdout = [];
    this.pending.stderr = [];
    this.sizes.stdout = this.sizes.stderr = 0;
    this.order = [];
    this.options.onFail?.(this.failure);
  }

  /**
   * A typed event of the job's kind (`agent.text`, …), stored after the output pushed before it,
   * so a reader sees both in the order they happened. Never throws; a failure ends storing.
   */
  event = (type: string, data: unknown): void => {
    if (this.failure) return;
    this.flush(false);
    this.chain = this.chain
      .then(async () => {
        if (this.failure) return;
        this.bus.publish(this.jobId, await this.untilReachable(() => this.store.appendEvent(this.jobId, type, data, this.options.lease)));
      })
      .catch((err: unknown) => this.fail(err));
  };

  /** Flushes what is left; resolves (never rejects) once every event is stored and published. */
  async close(): Promise<void> {
    this.flush(true);
    await this.chain;
  }
}

/** Length of the longest prefix of `buf` that does not end inside a UTF-8 sequence. */
export function completeUtf8(buf: Buffer): number {
  for (let i = buf.length - 1; i >= 0 && i >= buf.length - 4; i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf8 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1; // ≥ 0xf8: never a lead byte
    return i + need > buf.length ? i : buf.length;
  }
  return buf.length;
}
