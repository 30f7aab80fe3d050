import type { Logger } from '../util/log.js';

const RETRY_AFTER_FAILURE_MS = 5000;

export interface PoolLimits {
  /** Ready items kept per key. */
  size: number;
  /** Keys kept warm at once; the least recently used beyond this is let go. */
  maxKeys: number;
  /** A key not used for this long is let go. */
  idleMs: number;
}

/**
 * Keeps up to `size` ready items per key (e.g. started containers per image and
 * limits class) for at most `maxKeys` recently used keys, so rare classes cannot
 * pile up idle items. `take` hands one out and refills in the background; an
 * item is never handed out twice. Creation failures back off instead of spinning.
 */
export class WarmPool<T> {
  private readonly idle = new Map<string, T[]>();
  private readonly pending = new Map<string, number>();
  private readonly failedAt = new Map<string, number>();
  /** Keys in least-recently-used-first order, with when each was last used. */
  private readonly used = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly limits: PoolLimits,
    private readonly make: (key: string) => Promise<T>,
    private readonly dispose: (item: T) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /**
   * Hands out a ready item, if any, and refills — unless `refill` is false: then the caller
   * calls fill(key) itself, e.g. once the job that took the item no longer waits on this thread
   * (starting an item does synchronous work: a spawn, cgroup files).
   */
  take(key: string, opts: { refill?: boolean } = {}): T | undefined {
    const item = this.idle.get(key)?.shift();
    if (opts.refill !== false) this.fill(key);
    return item;
  }

  /** Starts filling `key` up to the pool size, and marks it recently used. */
  fill(key: string): void {
    if (this.closed || this.limits.size === 0) return;
    this.used.delete(key);
    this.used.set(key, Date.now());
    this.evict();
    if (Date.now() - (this.failedAt.get(key) ?? 0) < RETRY_AFTER_FAILURE_MS) return;
    while ((this.idle.get(key)?.length ?? 0) + (this.pending.get(key) ?? 0) < this.limits.size) {
      this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
      const job: Promise<void> = this.make(key)
        .then(async (item) => {
          if (this.closed || !this.used.has(key)) return this.dispose(item);
          const list = this.idle.get(key) ?? [];
          list.push(item);
          this.idle.set(key, list);
        })
        .catch((err) => {
          this.failedAt.set(key, Date.now());
          this.log.warn({ err, key }, 'warm pool could not create an item');
        })
        .finally(() => {
          this.pending.set(key, (this.pending.get(key) ?? 1) - 1);
          this.inflight.delete(job);
        });
      this.inflight.add(job);
    }
  }

  /** Lets go of keys beyond maxKeys (least recently used first) and of keys idle too long. */
  private evict(): void {
    const now = Date.now();
    for (const [key, at] of this.used) {
      if (this.used.size <= this.limits.maxKeys && now - at < this.limits.idleMs) break;
      this.used.delete(key);
      const items = this.idle.get(key) ?? [];
      this.idle.delete(key);
      for (const item of items) void this.dispose(item).catch(() => undefined);
    }
  }

  /** Ready items for a key (for tests and /health). */
  ready(key: string): number {
    return this.idle.get(key)?.length ?? 0;
  }

  /** Everything idle, whatever its key. */
  items(): T[] {
    return [...this.idle.values()].flat();
  }

  /** Stops refilling, waits for creations under way, disposes of every idle item. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.inflight.size) await Promise.all([...this.inflight]);
    const all = this.items();
    this.idle.clear();
    await Promise.all(all.map((item) => this.dispose(item).catch(() => undefined)));
  }
}
