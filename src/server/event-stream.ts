import type { ServerResponse } from 'node:http';
import { resetConnection, StallWatch } from './response-guard.js';

/** Comment frames keep idle streams (and proxies) alive. */
const KEEPALIVE_MS = 15_000;

/**
 * One SSE response with a bounded buffer. Frames go straight to the socket;
 * what the reader has not taken yet waits in the runner, and past `capBytes`
 * (`http.stream_buffer_bytes`) the reader is cut off instead — the connection
 * is reset and the client resumes with `Last-Event-ID`. 100 readers that never
 * read once held 530 MB of one job's output this way. A reader that takes
 * nothing for `stallMs` while data waits is cut off too (also after the end).
 */
export class SseWriter {
  private ended = false;
  private readonly keepalive: NodeJS.Timeout;
  private readonly stallCheck: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly capBytes: number,
    stallMs: number,
    private readonly onCut: () => void,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    this.keepalive = setInterval(() => {
      if (this.open && res.writableLength === 0) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    const stall = new StallWatch(res, stallMs);
    this.stallCheck = setInterval(() => stall.stalled() && this.cut(), Math.max(100, Math.floor(stallMs / 2)));
    res.once('close', () => {
      clearInterval(this.keepalive);
      clearInterval(this.stallCheck);
    });
  }

  /** False once the stream is over: ended, closed by the client, or cut off. */
  get open(): boolean {
    return !this.ended && !this.res.destroyed;
  }

  /** Bytes written but not yet taken by the reader's socket. */
  get buffered(): number {
    return this.res.writableLength;
  }

  /** Writes one frame unless that would put the reader more than `capBytes` behind; then cuts it off. */
  write(frame: string): boolean {
    if (!this.open) return false;
    // One frame always fits an empty buffer, so a single large event can still be delivered.
    const waiting = this.res.writableLength;
    if (waiting > 0 && waiting + Buffer.byteLength(frame) > this.capBytes) {
      this.cut();
      return false;
    }
    this.res.write(frame);
    return true;
  }

  /**
   * Resolves once the socket has taken what is buffered (at once if it has),
   * or the stream is over. Replays await it so they never read ahead of the reader.
   */
  drained(): Promise<void> {
    if (!this.open || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Ends the response normally (after what is buffered). */
  end(): void {
    if (!this.open) return;
    this.ended = true;
    this.res.end();
  }

  /** Drops the connection and whatever is still queued for it, in the runner and in the kernel. */
  cut(): void {
    if (this.res.destroyed) return;
    this.ended = true;
    this.onCut();
    resetConnection(this.res);
  }
}
