import { PaddockError } from '../errors.js';
import { readSse, type SseLimits, type SseMessage } from './sse.js';

export interface ResumeOptions {
  /** Opens the stream, resuming after `lastEventId` when it is set (sent as Last-Event-ID). */
  open(lastEventId: string | undefined): Promise<ReadableStream<Uint8Array>>;
  lastEventId?: string | undefined;
  /** The stream's last event: nothing is resumed after it. */
  isEnd?(message: SseMessage): boolean;
  /** When the server closes the stream before the end event: resume (true) or stop (false). */
  resumeOnClose: boolean;
  /** Reconnects in a row without an event in between before giving up. */
  retries?: number;
  /** The first reconnect's delay, doubled each time (a server's `retry:` field replaces it). */
  delayMs?: number;
  limits?: SseLimits;
  signal?: AbortSignal | undefined;
}

/**
 * An event stream that survives dropped connections: it reconnects with the
 * last event id it saw, so the server replays what was missed and nothing is
 * seen twice. Errors the server answered (not found, unauthorized…) end it;
 * only an unreachable runner or a connection cut mid-stream is retried.
 */
export async function* resumableSse(opts: ResumeOptions): AsyncGenerator<SseMessage> {
  const retries = opts.retries ?? 5;
  let lastId = opts.lastEventId;
  let delay = opts.delayMs ?? 200;
  // Connections in a row that ended (or failed) without an event.
  let failures = 0;
  for (;;) {
    let failure: unknown;
    try {
      const stream = await opts.open(lastId);
      for await (const m of readSse(stream, opts.limits)) {
        // As in EventSource, the last id outlives the connection that brought it.
        if (m.id !== undefined) lastId = m.id;
        else m.id = lastId;
        failures = 0;
        if (m.retry !== undefined) delay = m.retry;
        yield m;
        if (opts.isEnd?.(m)) return;
      }
      if (!opts.resumeOnClose) return;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (err instanceof PaddockError && err.code !== 'unreachable') throw err;
      failure = err;
    }
    if (++failures > retries) {
      throw failure ?? new PaddockError('unreachable', `the event stream closed ${failures} times in a row without an event`);
    }
    await sleep(delay * 2 ** Math.min(failures - 1, 10), opts.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
