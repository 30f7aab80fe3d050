import type { Config } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';

/** Ended sandboxes deleted per statement. */
const BATCH = 500;

/**
 * Forgets sandboxes that ended on their own longer than `retention.max_age` ago
 * (0: kept until deleted), in batches, as finished jobs are pruned; live ones
 * are never touched. One run at a time.
 */
export class SandboxPruner {
  private last = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly config: Pick<Config, 'retention'>,
    private readonly log: Logger,
  ) {}

  /** Runs when `retention.interval_ms` has passed since the last run. */
  maybe(now = Date.now()): void {
    if (now - this.last < this.config.retention.interval_ms) return;
    this.last = now;
    void this.run(now);
  }

  run(now = Date.now()): Promise<void> {
    const maxAge = this.config.retention.max_age;
    if (maxAge === 0) return Promise.resolve();
    this.running ??= (async () => {
      const before = new Date(now - maxAge).toISOString();
      while ((await this.store.pruneSandboxes(before, BATCH)) === BATCH);
    })()
      .catch((err: unknown) => this.log.warn({ err }, 'pruning ended sandboxes failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
