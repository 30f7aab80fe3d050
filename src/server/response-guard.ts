import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * Whether a response's reader has stopped taking bytes. A socket's bytesWritten
 * counts queued bytes too, so bytesWritten minus what is still queued is what
 * the kernel took; no change in that while data waits means no progress.
 */
export class StallWatch {
  private bytes = -1;
  private at = Date.now();

  constructor(
    private readonly res: ServerResponse,
    private readonly stallMs: number,
  ) {}

  /** True when data waits and the reader has taken none of it for `stallMs`. */
  stalled(): boolean {
    const socket = this.res.socket;
    if (!socket) return false;
    const flushed = socket.bytesWritten - socket.writableLength;
    const now = Date.now();
    if (this.res.writableLength === 0 || flushed !== this.bytes) {
      this.bytes = flushed;
      this.at = now;
      return false;
    }
    return now - this.at >= this.stallMs;
  }
}

/** Drops a connection and what is queued for it, in the runner and in the kernel (a reset). */
export function resetConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (socket && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else res.destroy();
}

/**
 * Every answer is bounded in size by what it holds (a single job by its output
 * limits, a list page by its byte cap); this bounds how long a reader that
 * stops reading can make the runner keep it: past `stallMs` without progress,
 * the connection is reset. Hijacked replies (event streams) guard themselves.
 */
export function installResponseGuard(app: FastifyInstance, stallMs: number): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    const res = reply.raw;
    // Most answers are in the kernel by the next check; only the rest get watched.
    const first = setTimeout(() => watch(res, stallMs), Math.min(1000, stallMs));
    first.unref();
    res.once('close', () => clearTimeout(first));
    return payload;
  });
}

function watch(res: ServerResponse, stallMs: number): void {
  if (res.writableFinished || res.destroyed) return;
  const stall = new StallWatch(res, stallMs);
  const timer = setInterval(() => {
    if (res.writableFinished || res.destroyed) clearInterval(timer);
    else if (stall.stalled()) {
      clearInterval(timer);
      resetConnection(res);
    }
  }, Math.max(100, Math.floor(stallMs / 2)));
  timer.unref();
  res.once('close', () => clearInterval(timer));
}
