import type { Config } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';

/** Jobs deleted per transaction: small, so pruning never holds the database (or the event loop) long. */
const BATCH = 200;
/** Free pages given back to the file system after a pass (4 KiB each). */
const RELEASE_PAGES = 25_600;

export interface PrunePolicy {
  /** Prune finished jobs that ended more than this many ms ago (0: all finished jobs; undefined: no age limit). */
  olderThanMs?: number | undefined;
  /** Keep only the newest `keep` finished jobs (undefined: no count limit). */
  keep?: number | undefined;
}

export interface PruneResult {
  jobs: number;
  events: number;
}

/**
 * Retention: finished jobs (never queued or running ones) and their events go
 * once they are older than `retention.max_age` or beyond the newest
 * `retention.max_jobs`, in the background every `retention.interval_ms` and on
 * demand (`POST /v1/jobs/prune`, `paddock jobs prune`).
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneResult> | undefined;

  constructor(
    private readonly store: Store,
    private readonly config: Pick<Config, 'retention'>,
    private readonly log: Logger,
    /** Removes what else the pruned jobs own (their artifacts); its failure is logged, never the prune's. */
    private readonly onPruned: (ids: string[]) => Promise<void> = async () => undefined,
  ) {}

  /** The configured policy. */
  get policy(): PrunePolicy {
    const { max_age, max_jobs } = this.config.retention;
    // 0 turns a limit off here (while `older_than_ms: 0` asked of the API means "all").
    return { olderThanMs: max_age || undefined, keep: max_jobs || undefined };
  }

  start(): void {
    const tick = () => {
      this.prune(this.policy)
        .then((r) => r.jobs > 0 && this.log.info({ ...r }, 'pruned finished jobs (retention)'))
        .catch((err) => this.log.warn({ err }, 'pruning finished jobs failed'));
    };
    tick();
    this.timer = setInterval(tick, this.config.retention.interval_ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Waits for the pass in progress, if any. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Prunes by `policy` in batches, yielding to the event loop between them. One pass at a time. */
  async prune(policy: PrunePolicy): Promise<PruneResult> {
    while (this.running) await this.running.catch(() => undefined);
    const pass = this.pass(policy);
    this.running = pass;
    try {
      return await pass;
    } finally {
      this.running = undefined;
    }
  }

  private async pass(policy: PrunePolicy): Promise<PruneResult> {
    const total = { jobs: 0, events: 0 };
    if (policy.olderThanMs === undefined && policy.keep === undefined) return total;
    // Fixed for the whole pass, so jobs finishing meanwhile are not chased.
    const finishedBefore = policy.olderThanMs !== undefined ? new Date(Date.now() - policy.olderThanMs).toISOString() : undefined;
    for (;;) {
      const r = await this.store.pruneJobs({ finishedBefore, keep: policy.keep, limit: BATCH });
      total.jobs += r.jobs;
      total.events += r.events;
      await this.onPruned(r.ids).catch((err) => this.log.warn({ err }, 'removing artifacts of pruned jobs failed'));
      if (r.jobs < BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total.jobs > 0) await this.store.releaseFreePages(RELEASE_PAGES).catch(() => undefined);
    return total;
  }
}
