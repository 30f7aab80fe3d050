import type { JobRow, Store } from '../store/store.js';
import type { Logger } from '../util/log.js';

/** Expired per sweep at most; a longer backlog is taken on the next tick at once. */
const BATCH = 500;

/**
 * Ends queued jobs whose `queue_timeout_ms` has passed (→ `expired`, reason
 * `queue_timeout`). Knows the earliest deadline, so a tick without a due job
 * costs no query. The claim also skips jobs past their deadline, so a job the
 * sweep has not reached yet is still never started.
 */
export class QueueExpiry {
  private timer: NodeJS.Timeout | undefined;
  private earliest = Number.POSITIVE_INFINITY;
  private sweeping = false;

  constructor(
    private readonly deps: {
      store: Store;
      log: Logger;
      sweepMs: number;
      /** Moves one queued job to `expired`; the scheduler's guarded transition. */
      expire: (row: JobRow) => Promise<void>;
    },
  ) {}

  async start(): Promise<void> {
    this.noteDeadline(await this.deps.store.nextQueueDeadline());
    this.timer = setInterval(() => void this.sweep(), this.deps.sweepMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A job with this deadline (ISO) was queued. */
  noteDeadline(iso: string | null | undefined): void {
    if (iso) this.earliest = Math.min(this.earliest, Date.parse(iso));
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || Date.now() < this.earliest) return;
    this.sweeping = true;
    try {
      const due = await this.deps.store.listExpiredQueued(new Date().toISOString(), BATCH);
      for (const row of due) await this.deps.expire(row);
      this.earliest = Number.POSITIVE_INFINITY;
      // Deadlines noted while this sweep ran are in the store too, so this misses none.
      this.noteDeadline(due.length === BATCH ? new Date().toISOString() : await this.deps.store.nextQueueDeadline());
    } catch (err) {
      this.deps.log.warn({ err }, 'expiring queued jobs failed');
    } finally {
      this.sweeping = false;
    }
  }
}
