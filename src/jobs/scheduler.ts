import { setMaxListeners } from 'node:events';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { DriverSet } from '../sandbox/registry.js';
import type { JobRow, Store } from '../store/store.js';
import { newId, nowIso } from '../util/ids.js';
import type { Logger } from '../util/log.js';
import { type Admission, queueDeadline, type Tenant } from './admission.js';
import { waitForEnd } from './wait.js';
import type { CallbackDispatcher } from './callbacks/dispatcher.js';
import type { EventBus } from './event-bus.js';
import { coalesced } from './coalesce.js';
import { QueueExpiry } from './expiry.js';
import { replayOf } from './idempotency.js';
import { afterHostLost, LeaseKeeper } from './leases.js';
import { recoverLeftRunning } from './recovery.js';
import { runJob } from './run.js';
import { type FleetPlacement, planSubmit } from './submit-plan.js';
import type { HostCapabilities } from '../fleet/capabilities.js';
import { retryWhileFull } from '../storage/retry.js';
import { isStoreUnavailable } from '../store/unavailable.js';
import type { JobSpec } from './spec.js';
import type { JobKinds } from './kind.js';
import { isTerminal, type JobState } from './states.js';
import { type JobEnd, moveJob } from './transition.js';

export type { StoredSpec } from './submit-plan.js';

/** Most jobs one claim takes: a backlog drains in fewer round trips, and one host does not take it all. */
const CLAIM_BATCH = 8;

export interface SchedulerDeps {
  config: Config;
  store: Store;
  drivers: DriverSet;
  /** The job kinds this runner runs (src/jobs/kinds.ts). */
  kinds: JobKinds;
  bus: EventBus;
  log: Logger;
  metrics: Metrics;
  /** Queue caps and per-token quotas; counts queued/running jobs as this scheduler moves them. */
  admission: Admission;
  /** An embedded store has one runner, so every running job found at start-up is ours. */
  recoverAllRunning: boolean;
  /** What this host offers jobs (src/fleet/capabilities.ts): fleet claims take only jobs it meets. */
  caps?: Pick<HostCapabilities, 'list' | 'canRun' | 'noteImage'> | undefined;
  /** Other hosts of a fleet (PostgreSQL), for jobs this one cannot run; undefined on SQLite. */
  placement?: FleetPlacement | undefined;
  /** Status callbacks: told of each queued job before its first event, so jobs without one cost no lookup. */
  callbacks?: Pick<CallbackDispatcher, 'noteSubmitted'>;
}

export interface SubmitOptions {
  tokenId: string | null;
  /** The submitting token's own quotas (null ones fall back to the config). */
  quotas?: Tenant['quotas'];
  idempotencyKey?: string | undefined;
  requestHash?: string | undefined;
}

/**
 * Runs queued jobs up to `max_concurrent_jobs`, priority first then FIFO, and
 * owns every state change of the jobs it runs. Each transition is guarded in the
 * store, so a cancel racing a completion resolves to exactly one end state.
 */
export class Scheduler {
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly cancelledBeforeLaunch = new Set<string>();
  /**
   * False once a claim found the queue empty, until something is queued again,
   * so finishing a job does not cost an empty claim transaction. Every job of an
   * embedded store is queued through this process; a fleet will also poll.
   */
  private mayHaveQueued = true;
  /** The claim under way, if any (stop() waits for its jobs to be launched). */
  private claimRound: Promise<boolean> | undefined;
  /** Slots taken by submits that start their job at once (startNow), until it is launched. */
  private reserved = 0;
  private stopping = false;
  /** A full disk stopped start-up recovery; it runs again when space is back. */
  private recoverPending = false;
  private readonly stopController = new AbortController();
  /** Aborted when the runner stops, so long-polls and streams can let go. */
  readonly stopSignal: AbortSignal = this.stopController.signal;
  lastActivity: string | null = null;
  private readonly expiry: QueueExpiry;
  private readonly leases: LeaseKeeper;

  constructor(private readonly deps: SchedulerDeps) {
    // Every waiting request and event stream listens here; that is not a leak.
    setMaxListeners(0, this.stopSignal);
    this.expiry = new QueueExpiry({
      store: deps.store,
      log: deps.log,
      sweepMs: deps.config.queue.sweep_ms,
      expire: (row) => this.transition(row, ['queued'], 'expired', { reason: 'queue_timeout' }).then(() => undefined),
    });
    this.leases = new LeaseKeeper({
      store: deps.store,
      config: deps.config,
      log: deps.log,
      active: () => [...this.active.keys()],
      lost: (id) => this.active.get(id)?.abort.abort('lease_lost'),
      takeOver: (row) => this.takeOver(row),
    });
  }

  /** Whether this host runs job `id` now. */
  isRunning(id: string): boolean {
    return this.active.has(id);
  }

  get runningCount(): number {
    return this.active.size;
  }

  /** The oldest running job's id (the active map keeps launch order), or null: O(1), for /health. */
  get currentJobId(): string | null {
    return this.active.keys().next().value ?? null;
  }

  async start(): Promise<void> {
    // Counts first: recovering moves jobs, and those moves are counted from there.
    await this.deps.admission.recount();
    await this.recover();
    await this.expiry.start();
    this.leases.start();
    this.deps.admission.startRecounting();
    this.pump();
  }

  /** Validates what the job needs against this runner, then queues it. */
  async submit(spec: JobSpec, opts: SubmitOptions): Promise<{ row: JobRow; created: boolean }> {
    if (this.stopping) throw new PaddockError('shutting_down', 'runner is shutting down; not accepting jobs');
    const { store, drivers, config } = this.deps;
    if (opts.idempotencyKey) {
      const existing = await store.findJobByIdempotencyKey(opts.tokenId, opts.idempotencyKey);
      if (existing) return { row: replayOf(existing, opts.requestHash), created: false };
    }
    const { stored, driver, needs } = await planSubmit(this.deps, spec);
    // Found on disk by this submit: this host claims such jobs before its next read of the images.
    if (driver) for (const n of needs) if (n.startsWith('image:')) this.deps.caps?.noteImage(n.slice('image:'.length));
    const queueExpiresAt = queueDeadline(spec.queue_timeout_ms, config);
    // Last, and with no await between check and place: caps hold under a burst.
    const ticket = this.deps.admission.admitSubmit({ tokenId: opts.tokenId, quotas: opts.quotas });
    const startNow = driver !== undefined && this.canStartNow(opts.tokenId);
    if (startNow) this.reserved++;
    let inserted;
    try {
      inserted = await store.insertJob({
        id: newId('job'),
        kind: spec.kind,
        spec: stored,
        priority: spec.priority,
        labels: spec.labels,
        token_id: opts.tokenId,
        idempotency_key: opts.idempotencyKey ?? null,
        request_hash: opts.requestHash ?? null,
        driver: driver?.name ?? null,
        needs,
        queue_expires_at: queueExpiresAt,
        ...(startNow ? { start: { host: config.host_id, leaseMs: this.leaseMs } } : {}),
      });
      ticket.stored();
    } catch (err) {
      if (startNow) this.reserved--;
      ticket.release();
      // Two requests with one Idempotency-Key raced; the loser returns the winner's job.
      const existing = opts.idempotencyKey && (await store.findJobByIdempotencyKey(opts.tokenId, opts.idempotencyKey));
      if (existing) return { row: replayOf(existing, opts.requestHash), created: false };
      throw err;
    }
    this.deps.callbacks?.noteSubmitted(inserted.row, spec);
    this.deps.bus.publish(inserted.row.id, inserted.event);
    this.deps.metrics.jobsSubmitted.inc({ kind: spec.kind });
    this.touch();
    if (inserted.started) {
      this.reserved--;
      this.deps.admission.claimed(inserted.row.token_id);
      this.deps.bus.publish(inserted.row.id, inserted.started);
      this.launch(inserted.row);
      return { row: inserted.row, created: true };
    }
    this.expiry.noteDeadline(queueExpiresAt);
    this.mayHaveQueued = true;
    this.pump();
    return { row: inserted.row, created: true };
  }

  async cancel(id: string): Promise<JobRow> {
    const row = await this.deps.store.getJob(id);
    if (!row) throw new PaddockError('not_found', `no job ${id}`);
    if (isTerminal(row.state)) throw new PaddockError('conflict', `job ${id} already ended (${row.state})`, { state: row.state });
    const running = this.active.get(id);
    if (running) {
      running.abort.abort('cancel');
      await running.done;
    } else if (!(await this.transition(row, ['queued'], 'cancelled', { reason: 'cancelled' }))) {
      // Not queued (any more): claimed meanwhile, or running on a runner that is gone.
      const claimed = this.active.get(id);
      if (claimed) {
        claimed.abort.abort('cancel');
        await claimed.done;
      } else {
        // A claim by this host may have committed without its launch having run yet; remember
        // the cancel so that launch aborts at once instead of running the job. Another host's
        // run learns of it at its next lease renewal.
        const now = await this.deps.store.getJob(id);
        if (now?.host === this.deps.config.host_id) this.cancelledBeforeLaunch.add(id);
        await this.transition(row, ['running'], 'cancelled', { reason: 'cancelled' });
      }
    }
    return (await this.deps.store.getJob(id))!;
  }

  /** Resolves true once the job is in a terminal state; false after `timeoutMs` or when the runner stops. */
  waitForEnd(id: string, timeoutMs: number): Promise<boolean> {
    return waitForEnd(this.deps, this.stopSignal, id, timeoutMs);
  }

  /**
   * Stops claiming; lets running jobs finish for up to `graceMs`, then aborts the rest (they are handed
   * back or fail runner_shutdown, see runJob) and waits for them. Leases are still renewed meanwhile.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping = true;
    this.expiry.stop();
    // A claim in flight: the jobs it takes are launched, then stopped with the rest below.
    await this.claimRound?.catch(() => undefined);
    if (graceMs > 0 && this.active.size > 0) {
      this.deps.log.info({ jobs: this.active.size, grace_ms: graceMs }, 'letting running jobs finish before stopping');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.active.values()].map((a) => a.done)),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.leases.stop();
    this.deps.admission.stopRecounting();
    for (const { abort } of this.active.values()) abort.abort('shutdown');
    await Promise.all([...this.active.values()].map((a) => a.done));
    // Only now: requests waiting on the jobs above have seen them end.
    this.stopController.abort();
  }

  private get leaseMs(): number {
    return this.deps.config.fleet.lease_ms;
  }

  /** A job whose host's lease ran out: requeued or failed `host_lost`, guarded by that lease. */
  private async takeOver(row: JobRow): Promise<void> {
    const { config, kinds, log } = this.deps;
    const to = afterHostLost(row, kinds[row.kind]?.retrySafe === true, config.fleet.max_attempts);
    if (!(await this.transition(row, ['running'], to, { reason: 'host_lost' }, row.lease_token))) return;
    log.warn({ jobId: row.id, host: row.host, state: to }, 'took over a job whose host stopped renewing its lease');
    if (to === 'queued') {
      this.mayHaveQueued = true;
      this.pump();
    }
  }

  /**
   * Whether a submit may store its job as running straight away, sparing a claim: a slot is free,
   * this submit is the only job queued (so none is passed over, whatever its priority; a job being
   * claimed still counts as queued), its token is under its max_running, and the last claim found
   * the queue empty. Checked with no await before the slot is reserved.
   */
  private canStartNow(tokenId: string | null): boolean {
    const { admission, config } = this.deps;
    if (this.stopping || this.recoverPending || this.mayHaveQueued) return false;
    if (this.active.size + this.reserved >= config.max_concurrent_jobs || admission.queued !== 1) return false;
    return tokenId === null || !admission.skipTokens().includes(tokenId);
  }

  /** Claims what can run now; a call while a claim loop runs makes it loop once more after. */
  private readonly pump = coalesced(
    () => this.claimLoop(),
    // The store away: the host registry reports it (/health degraded); the next wake or poll tries again.
    (err) => (isStoreUnavailable(err) ? undefined : this.deps.log.error({ err }, 'claiming jobs failed')),
  );

  private async claimLoop(): Promise<void> {
    const { config, caps, placement } = this.deps;
    // In a fleet, a host with no driver up leaves the queue to the others; alone, it claims, and the
    // job says why it cannot run (rather than wait for a driver that may not come back).
    if (placement && caps && !caps.canRun()) return;
    while (this.mayHaveQueued && !this.stopping && this.active.size + this.reserved < config.max_concurrent_jobs) {
      // Cleared before the claim: a submit during it sets it again, so nothing is missed.
      this.mayHaveQueued = false;
      const free = config.max_concurrent_jobs - this.active.size - this.reserved;
      // Several at once saves round trips under a backlog (bench/fleet); one while a max_running
      // may apply, as the skip list is only right for the claim's first job.
      const limit = this.deps.admission.anyRunningLimit() ? 1 : Math.min(free, CLAIM_BATCH);
      const round = this.claimAndLaunch(limit, placement && caps ? caps.list() : undefined);
      this.claimRound = round;
      if (!(await round)) return;
    }
  }

  /** One claim and the launch of what it took; stop() awaits it, so no claimed job starts unseen. */
  private async claimAndLaunch(limit: number, caps: string[] | undefined): Promise<boolean> {
    const { store, config } = this.deps;
    const claimed = await store.claimJobs(config.host_id, this.leaseMs, limit, {
      tokens: this.deps.admission.skipTokens(),
      // Alone, every job accepted here is this host's; in a fleet, only those whose needs it meets.
      ...(caps ? { caps } : {}),
    });
    if (claimed.length === 0) return false;
    this.mayHaveQueued = true;
    for (const { row, event } of claimed) {
      this.deps.admission.claimed(row.token_id);
      this.deps.bus.publish(row.id, event);
      this.launch(row);
    }
    return true;
  }

  private launch(row: JobRow): void {
    const abort = new AbortController();
    if (this.cancelledBeforeLaunch.delete(row.id)) abort.abort('cancel');
    const done = this.execute(row, abort)
      .catch((err) => this.deps.log.error({ err, jobId: row.id }, 'job bookkeeping failed'))
      .finally(() => {
        this.active.delete(row.id);
        this.deps.metrics.jobsRunning.set(this.active.size);
        // Its token may have been at max_running, with its queued jobs skipped by the last claim.
        if (this.deps.admission.queuedOf(row.token_id) > 0) this.mayHaveQueued = true;
        this.touch();
        this.pump();
      });
    this.active.set(row.id, { abort, done });
    this.deps.metrics.jobsRunning.set(this.active.size);
  }

  /*
   * Be careful about what can throw here: once a job is claimed it MUST reach an
   * end state (or be requeued), or it would stay `running` until the next restart.
   */
  private async execute(row: JobRow, abort: AbortController): Promise<void> {
    const { to, end } = await runJob(this.deps, row, abort);
    // Fenced: a job taken over meanwhile (this host's lease expired) keeps the new holder's end.
    await this.transition(row, ['running'], to, end, row.lease_token);
    if (to === 'queued') this.mayHaveQueued = true;
  }

  /** One source state per move, so admission's counts know what the job left. */
  private async transition(row: JobRow, from: [JobState], to: JobState, end: JobEnd, lease?: string | null): Promise<boolean> {
    const move = () => moveJob(this.deps, row, from, to, end, lease);
    // The end of a job this process runs must be recorded: on a full disk, retry until there is room.
    const moved = this.active.has(row.id)
      ? await retryWhileFull(move, () => this.stopping, this.deps.log)
      : await move();
    if (moved) this.deps.admission.moved(row.token_id, from[0], to);
    return moved;
  }

  /** Ends (or requeues) jobs that a previous process left `running`. */
  private async recover(): Promise<void> {
    const { store, config, log } = this.deps;
    const done = await recoverLeftRunning({
      store,
      log,
      hostId: this.deps.recoverAllRunning ? undefined : config.host_id,
      isActive: (id) => this.active.has(id),
      move: (row, to) => this.transition(row, ['running'], to, { reason: 'runner_restarted' }, row.lease_token),
      requeued: () => (this.mayHaveQueued = true),
    });
    // Interrupted by a full disk: resumeAfterStorage runs it again.
    if (!done) this.recoverPending = true;
  }

  private touch(): void {
    this.lastActivity = nowIso();
  }

  /** There may be queued jobs this host did not queue (another host's submit, a requeue): claim. */
  wake(): void {
    if (this.stopping) return;
    this.mayHaveQueued = true;
    this.pump();
  }

  /** Disk space is back: finish recovery if a full disk interrupted it, and claim again. */
  resumeAfterStorage(): void {
    if (this.stopping) return;
    if (this.recoverPending) {
      this.recoverPending = false;
      void this.recover()
        .catch((err) => this.deps.log.error({ err }, 'recovering jobs failed'))
        .finally(() => this.pump());
    }
    this.mayHaveQueued = true;
    this.pump();
  }
}

