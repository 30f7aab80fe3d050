import type { Config } from '../config/schema.js';
import type { JobRow, Store } from '../store/store.js';
import type { Logger } from '../util/log.js';

export interface LeaseDeps {
  store: Pick<Store, 'renewLeases' | 'listExpiredLeases'>;
  config: Config;
  log: Logger;
  /** Ids of the jobs this host runs now. */
  active(): string[];
  /** This host's run of `id` no longer holds the job (ended elsewhere, or taken over): stop it. */
  lost(id: string): void;
  /** Requeues or fails a job whose lease ran out; guarded by that lease, so one host wins. */
  takeOver(row: JobRow): Promise<unknown>;
}

/** Expired leases taken over per sweep; the next sweep takes more. */
const SWEEP_BATCH = 100;

/**
 * Keeps this host's leases alive and takes over those of hosts that are gone. Every third of
 * `fleet.lease_ms` it renews the leases of the jobs it runs — a job not renewed was cancelled on
 * another host or taken over, and its run here stops — then requeues or fails running jobs whose
 * lease ran out. A failed round (the database away) is logged and tried again next round.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failing = false;

  constructor(private readonly deps: LeaseDeps) {}

  get intervalMs(): number {
    return Math.max(100, Math.floor(this.deps.config.fleet.lease_ms / 3));
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.round().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  /** One renewal and sweep; exported through the class for tests that do not wait for the timer. */
  async round(): Promise<void> {
    const { store, config, log } = this.deps;
    try {
      const mine = this.deps.active();
      const held = new Set(await store.renewLeases(config.host_id, mine, config.fleet.lease_ms));
      for (const id of mine) {
        // Finished meanwhile: its end is recorded by its run, not a loss.
        if (!held.has(id) && this.deps.active().includes(id)) this.deps.lost(id);
      }
      const expired = await store.listExpiredLeases(SWEEP_BATCH);
      const active = new Set(this.deps.active());
      for (const row of expired) {
        // Ours after all (renewed late, a stalled loop): the next renewal extends it.
        if (active.has(row.id)) continue;
        await this.deps.takeOver(row);
      }
      if (this.failing) log.info('renewing leases works again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) log.warn({ err: err instanceof Error ? err.message : String(err) }, 'renewing leases failed; trying again');
      this.failing = true;
    }
  }
}

/**
 * Where a job whose host was lost goes: back to the queue when a repeat is harmless (its kind is
 * `retrySafe`, or it asked with `retry_on_restart`) and it has runs left; else it fails `host_lost`.
 */
export function afterHostLost(row: Pick<JobRow, 'spec' | 'attempts'>, retrySafe: boolean, maxAttempts: number): 'queued' | 'failed' {
  const asked = (JSON.parse(row.spec) as { retry_on_restart?: boolean }).retry_on_restart === true;
  return (retrySafe || asked) && row.attempts < maxAttempts ? 'queued' : 'failed';
}
