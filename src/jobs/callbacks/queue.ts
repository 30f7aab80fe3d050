import { type Backoff, DEFAULT_BACKOFF, RETRY_CAP_MS, retryDelayMs } from './backoff.js';
import { sendCallback, type SendOutcome, type SendRequest } from './send.js';

/** Tries in flight at once, all jobs together: a hanging receiver holds a socket per try, so this bounds fds. */
export const MAX_IN_FLIGHT = 64;

/** How a delivery ended, as `paddock_callbacks_total{outcome}` counts it. */
export type DeliveryOutcome = 'delivered' | 'failed' | 'refused' | 'dropped' | 'abandoned';

export interface Delivery {
  id: string;
  /** Deliveries of one key (a job) go out in the order they were queued, one at a time. */
  key: string;
  url: string;
  body: string;
  /** Everything but the per-try header (X-Paddock-Delivery-Attempt). */
  headers: Record<string, string>;
}

export interface DeliveryQueueOptions {
  maxAttempts: number;
  timeoutMs: number;
  maxPending: number;
  allowPrivate: boolean;
  backoff?: Backoff;
  /** One HTTP try; the real one unless a test replaces it. */
  send?: (req: SendRequest) => Promise<SendOutcome>;
  /** Told once per delivery, when it ends, with the last try's outcome. */
  onEnd?: (d: Delivery, outcome: DeliveryOutcome, last: SendOutcome | undefined, attempts: number) => void;
}

interface Entry {
  d: Delivery;
  attempts: number;
  state: 'waiting' | 'sending' | 'backoff';
  timer?: NodeJS.Timeout;
  abort?: AbortController;
}

/**
 * Bounded, in-memory delivery of callbacks with retries. Per key, only the head is ever tried, and the
 * next waits until the head is delivered or given up, so state N+1 never arrives before state N.
 * Beyond `maxPending` the oldest delivery that is not being sent right now is dropped. Nothing here
 * waits on a job or throws into the caller: `enqueue` only queues. Nothing survives the process.
 */
export class DeliveryQueue {
  private readonly lanes = new Map<string, Entry[]>();
  /** Every pending entry, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Entry>();
  /** Keys whose head may be tried now, waiting for a slot. */
  private readonly ready = new Set<string>();
  private inFlight = 0;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly send: (req: SendRequest) => Promise<SendOutcome>;
  private readonly backoff: Backoff;

  constructor(private readonly opts: DeliveryQueueOptions) {
    this.send = opts.send ?? sendCallback;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  get size(): number {
    return this.pending.size;
  }

  enqueue(d: Delivery): void {
    if (this.closed) return this.ended(d, 'abandoned', undefined, 0);
    const entry: Entry = { d, attempts: 0, state: 'waiting' };
    const lane = this.lanes.get(d.key);
    if (lane) lane.push(entry);
    else {
      this.lanes.set(d.key, [entry]);
      this.ready.add(d.key);
    }
    this.pending.add(entry);
    while (this.pending.size > this.opts.maxPending && this.dropOldest()) {
      // each pass drops one
    }
    this.pump();
  }

  /** Resolves when nothing is pending, or after `ms`; then whatever is left is abandoned. */
  async close(ms: number): Promise<void> {
    this.closed = true;
    if (this.pending.size > 0 && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
    }
    for (const entry of [...this.pending]) {
      this.remove(entry);
      clearTimeout(entry.timer);
      entry.abort?.abort();
      this.ended(entry.d, 'abandoned', undefined, entry.attempts);
    }
  }

  private ended(d: Delivery, outcome: DeliveryOutcome, last: SendOutcome | undefined, attempts: number): void {
    try {
      this.opts.onEnd?.(d, outcome, last, attempts);
    } catch {
      // Counting and logging must not break delivery.
    }
  }

  private dropOldest(): boolean {
    for (const entry of this.pending) {
      // One being sent is let finish: dropping it would let its successor overtake it.
      if (entry.state === 'sending') continue;
      clearTimeout(entry.timer);
      const wasHead = this.lanes.get(entry.d.key)?.[0] === entry;
      this.remove(entry);
      if (wasHead && this.lanes.has(entry.d.key)) this.ready.add(entry.d.key);
      this.ended(entry.d, 'dropped', undefined, entry.attempts);
      return true;
    }
    return false;
  }

  private pump(): void {
    for (const key of this.ready) {
      if (this.inFlight >= MAX_IN_FLIGHT) return;
      this.ready.delete(key);
      const head = this.lanes.get(key)?.[0];
      if (head?.state === 'waiting') void this.attempt(head);
    }
  }

  private async attempt(entry: Entry): Promise<void> {
    entry.state = 'sending';
    entry.attempts += 1;
    entry.abort = new AbortController();
    this.inFlight += 1;
    let outcome: SendOutcome;
    try {
      outcome = await this.send({
        url: entry.d.url,
        body: entry.d.body,
        headers: { ...entry.d.headers, 'x-paddock-delivery-attempt': String(entry.attempts) },
        timeoutMs: this.opts.timeoutMs,
        allowPrivate: this.opts.allowPrivate,
        signal: entry.abort.signal,
      });
    } catch (err) {
      outcome = { kind: 'retry', error: err instanceof Error ? err.message : String(err) };
    } finally {
      this.inFlight -= 1;
      entry.abort = undefined;
    }
    // Abandoned by close() meanwhile: already counted.
    if (!this.pending.has(entry)) return this.pump();
    const retry = outcome.kind === 'retry' && entry.attempts < this.opts.maxAttempts;
    if (retry && !this.closed) {
      entry.state = 'backoff';
      const asked = outcome.kind === 'retry' ? outcome.retryAfterMs : undefined;
      const wait = asked !== undefined ? Math.min(asked, this.backoff.capMs, RETRY_CAP_MS) : retryDelayMs(entry.attempts, this.backoff);
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        entry.state = 'waiting';
        this.ready.add(entry.d.key);
        this.pump();
      }, wait);
      // A pending retry does not keep the process alive (a crash or exit loses it anyway).
      entry.timer.unref();
    } else {
      // Closing: a try that would be retried is given up as abandoned, not as failed.
      const ended: DeliveryOutcome = retry ? 'abandoned' : outcome.kind === 'retry' ? 'failed' : outcome.kind;
      this.remove(entry);
      if (this.lanes.has(entry.d.key)) this.ready.add(entry.d.key);
      this.ended(entry.d, ended, outcome, entry.attempts);
    }
    this.pump();
  }

  private remove(entry: Entry): void {
    this.pending.delete(entry);
    const lane = this.lanes.get(entry.d.key);
    if (lane) {
      const at = lane.indexOf(entry);
      if (at >= 0) lane.splice(at, 1);
      if (lane.length === 0) {
        this.lanes.delete(entry.d.key);
        this.ready.delete(entry.d.key);
      }
    }
    if (this.pending.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
