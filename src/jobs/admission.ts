import type { Principal, StoredQuotas } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { JobState } from './states.js';

/** What a refused submit or stream is told to wait; a hint, the queue may drain sooner. */
const RETRY_AFTER_S = 5;
/** How often the in-memory counts are checked against the store. */
const RECOUNT_MS = 30_000;

/**
 * When a job asking for `queue_timeout_ms` expires if still queued (ISO), or
 * null without one; above `queue.max_timeout_ms` it is refused, as limits are.
 */
export function queueDeadline(timeoutMs: number | undefined, config: Pick<Config, 'queue'>): string | null {
  if (timeoutMs === undefined) return null;
  const max = config.queue.max_timeout_ms;
  if (timeoutMs > max) {
    throw new PaddockError('limit_exceeded', `queue_timeout_ms = ${timeoutMs} is above this runner's maximum of ${max}`, {
      field: 'queue_timeout_ms',
      max,
    });
  }
  return new Date(Date.now() + timeoutMs).toISOString();
}

/** Gives back what was taken; safe to call more than once. */
export type Release = () => void;

/** A queued place taken by `admitSubmit`: `stored()` once the job is in the store, else `release()`. */
export interface Ticket {
  stored(): void;
  release(): void;
}

/** Who a submit or stream is charged to: the token id (null: no token) and its own quotas. */
export interface Tenant {
  tokenId: string | null;
  quotas?: Partial<StoredQuotas> | undefined;
}

interface TokenCounts {
  queued: number;
  running: number;
  streams: number;
  /** Effective max_running (0 = none), remembered so the claim can skip this token's jobs. */
  maxRunning: number;
}

/**
 * Admission control. Counts queued and running jobs (all tokens and per token)
 * and open event streams per token in memory, so a submit and `/health` cost no
 * query under a burst. The counts follow every state change the scheduler makes
 * (`claimed`, `moved`) and are recounted from the store at start and every so
 * often when nothing is in flight, so they cannot drift for long.
 *
 * Quotas come from the token record (`Principal.quotas`, null = `quotas.*` of
 * the config; 0 = no limit). Every refusal is a 429 with a stable code and
 * `retry_after_s` (sent as Retry-After): `queue_full` (runner-wide
 * `queue.max_queued`), `quota_exceeded` (token's max_queued or submits_per_s)
 * and `too_many_streams` (token's max_streams). A token's max_running does not
 * refuse: its jobs beyond it stay queued (see `skipTokens`).
 */
export class Admission {
  private queuedTotal = 0;
  private runningTotal = 0;
  private readonly tokens = new Map<string, TokenCounts>();
  private readonly buckets = new Map<string, { level: number; at: number }>();
  /** Submits that hold a queued place but whose insert has not finished. */
  private pending = 0;
  /** Bumped on every change, so a recount that raced one is thrown away. */
  private version = 0;
  private recounter: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Pick<Config, 'queue' | 'quotas'>,
    private readonly store: Store,
  ) {}

  /** Queued jobs (including submits being stored): what `/health` reports as queueLength. */
  get queued(): number {
    return this.queuedTotal;
  }

  get running(): number {
    return this.runningTotal;
  }

  queuedOf(tokenId: string | null): number {
    return tokenId === null ? 0 : (this.tokens.get(tokenId)?.queued ?? 0);
  }

  /**
   * Checks the submit rate, the runner's queue cap and the token's queue cap,
   * then takes a queued place — all synchronously, so concurrent submits cannot
   * overshoot a cap. Once the job is stored the place is the job's and moves
   * with it (`claimed`, `moved`); a submit that stores nothing releases it.
   */
  admitSubmit(tenant: Tenant): Ticket {
    const quotas = this.effective(tenant);
    if (this.queuedTotal >= this.config.queue.max_queued) {
      throw new PaddockError('queue_full', `the runner's queue is full (${this.config.queue.max_queued} jobs queued)`, {
        limit: this.config.queue.max_queued,
        retry_after_s: RETRY_AFTER_S,
      });
    }
    const counts = tenant.tokenId === null ? undefined : this.countsOf(tenant.tokenId);
    if (counts) counts.maxRunning = quotas.max_running;
    if (counts && quotas.max_queued > 0 && counts.queued >= quotas.max_queued) {
      throw new PaddockError('quota_exceeded', `this token already has ${counts.queued} jobs queued (its max_queued)`, {
        quota: 'max_queued',
        limit: quotas.max_queued,
        retry_after_s: RETRY_AFTER_S,
      });
    }
    if (tenant.tokenId !== null && quotas.submits_per_s > 0) this.takeRate(tenant.tokenId, quotas.submits_per_s);
    this.queuedTotal++;
    if (counts) counts.queued++;
    this.pending++;
    this.version++;
    let settled = false;
    const settle = (stored: boolean) => {
      if (settled) return;
      settled = true;
      this.pending--;
      if (!stored) this.change(tenant.tokenId, 'queued', -1);
    };
    return { stored: () => settle(true), release: () => settle(false) };
  }

  /** A queued job of this token was claimed to run. */
  claimed(tokenId: string | null): void {
    this.moved(tokenId, 'queued', 'running');
  }

  /** A job moved `from` → `to` (a guarded store transition that took effect). */
  moved(tokenId: string | null, from: JobState, to: JobState): void {
    if (from === to) return;
    if (from === 'queued' || from === 'running') this.change(tokenId, from, -1);
    if (to === 'queued' || to === 'running') this.change(tokenId, to, +1);
  }

  /**
   * Whether any max_running may apply (the default's or a known token's): then the scheduler claims
   * one job at a time, so no claim takes a token past its limit; otherwise it may claim several.
   */
  anyRunningLimit(): boolean {
    if (this.config.quotas.max_running > 0) return true;
    for (const c of this.tokens.values()) if (c.maxRunning > 0) return true;
    return false;
  }

  /** Tokens whose running jobs have reached their max_running: the claim skips their queued jobs. */
  skipTokens(): string[] {
    const out: string[] = [];
    for (const [id, c] of this.tokens) if (c.maxRunning > 0 && c.running >= c.maxRunning) out.push(id);
    return out;
  }

  /**
   * Takes one of this principal's event-stream places (its max_streams; the
   * runner-wide cap is the stream gate's, src/server/stream-gate.ts). Throws
   * `429 too_many_streams` with Retry-After past the cap; returns the function
   * that gives the place back when the stream closes (idempotent).
   */
  openStream(principal: Principal | undefined): Release {
    if (!principal) return () => undefined;
    const max = this.effective({ tokenId: principal.tokenId, quotas: principal.quotas }).max_streams;
    const counts = this.countsOf(principal.tokenId);
    if (max > 0 && counts.streams >= max) {
      throw new PaddockError('too_many_streams', `this token already has ${counts.streams} event streams open (its max_streams)`, {
        quota: 'max_streams',
        limit: max,
        retry_after_s: RETRY_AFTER_S,
      });
    }
    counts.streams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      counts.streams--;
    };
  }

  /**
   * Sets the job counts from the store and learns every token's max_running.
   * Skipped (returns false) when a submit or a state change happened meanwhile:
   * the in-memory counts are exact then, and the next recount will apply.
   */
  async recount(): Promise<boolean> {
    const version = this.version;
    if (this.pending > 0) return false;
    const [rows, tokens] = await Promise.all([this.store.countActiveJobs(), this.store.listTokens()]);
    if (version !== this.version || this.pending > 0) return false;
    for (const t of tokens) {
      this.countsOf(t.id).maxRunning = t.max_running ?? this.config.quotas.max_running;
    }
    this.queuedTotal = 0;
    this.runningTotal = 0;
    for (const c of this.tokens.values()) c.queued = c.running = 0;
    for (const r of rows) {
      const state = r.state as 'queued' | 'running';
      if (state === 'queued') this.queuedTotal += r.n;
      else this.runningTotal += r.n;
      if (r.token_id !== null) this.countsOf(r.token_id)[state] += r.n;
    }
    return true;
  }

  startRecounting(): void {
    this.recounter = setInterval(() => void this.recount().catch(() => undefined), RECOUNT_MS);
    this.recounter.unref();
  }

  stopRecounting(): void {
    clearInterval(this.recounter);
  }

  private effective(tenant: Tenant): StoredQuotasResolved {
    const q = tenant.quotas ?? {};
    const d = this.config.quotas;
    return {
      max_queued: q.max_queued ?? d.max_queued,
      max_running: q.max_running ?? d.max_running,
      submits_per_s: q.submits_per_s ?? d.submits_per_s,
      max_streams: q.max_streams ?? d.max_streams,
      max_sandboxes: q.max_sandboxes ?? d.max_sandboxes,
    };
  }

  /** Token bucket: `rate` submits per second, bursts of up to `rate`. */
  private takeRate(tokenId: string, rate: number): void {
    const now = Date.now();
    const bucket = this.buckets.get(tokenId) ?? { level: rate, at: now };
    bucket.level = Math.min(rate, bucket.level + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.buckets.set(tokenId, bucket);
    if (bucket.level < 1) {
      throw new PaddockError('quota_exceeded', `this token may submit ${rate} jobs per second`, {
        quota: 'submits_per_s',
        limit: rate,
        retry_after_s: (1 - bucket.level) / rate,
      });
    }
    bucket.level -= 1;
  }

  private change(tokenId: string | null, state: 'queued' | 'running', delta: number): void {
    this.version++;
    if (state === 'queued') this.queuedTotal = Math.max(0, this.queuedTotal + delta);
    else this.runningTotal = Math.max(0, this.runningTotal + delta);
    if (tokenId === null) return;
    const c = this.countsOf(tokenId);
    c[state] = Math.max(0, c[state] + delta);
  }

  private countsOf(tokenId: string): TokenCounts {
    let c = this.tokens.get(tokenId);
    if (!c) {
      c = { queued: 0, running: 0, streams: 0, maxRunning: this.config.quotas.max_running };
      this.tokens.set(tokenId, c);
    }
    return c;
  }
}

type StoredQuotasResolved = { [K in keyof StoredQuotas]: number };
