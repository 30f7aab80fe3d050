import { randomUUID } from 'node:crypto';
import type { CallbacksConfig } from '../../config/callbacks.js';
import type { Metrics } from '../../metrics.js';
import type { CallbackTargetRow, StoredEvent, Store } from '../../store/store.js';
import type { Logger } from '../../util/log.js';
import { VERSION } from '../../version.js';
import type { EventBus } from '../event-bus.js';
import { isTerminal } from '../states.js';
import type { Backoff } from './backoff.js';
import { callbackPayload, type StateChange } from './payload.js';
import { type Delivery, type DeliveryOutcome, DeliveryQueue } from './queue.js';
import type { SendOutcome } from './send.js';
import { signBody } from './signature.js';

/** Jobs remembered (with or without a callback) so that later states cost no query; the oldest are forgotten first. */
const KNOWN_JOBS_MAX = 100_000;

export interface CallbackDispatcherDeps {
  config: CallbacksConfig;
  store: Store;
  bus: EventBus;
  log: Logger;
  metrics: Metrics;
  /** Tests shorten the retry schedule. */
  backoff?: Backoff;
}

/** What the dispatcher keeps of a job with a callback between its states. */
interface Target {
  url: string;
  kind: string;
  tokenId: string | null;
  /** The job's own secret; undefined: its token's or the config's, looked up when first needed. */
  jobSecret: string | undefined;
  /** The secret its callbacks are signed with, once resolved ('' = none). */
  secret?: string;
  attempts: number;
  /** The last state this process saw it in. */
  last?: string;
}

/** null: the job has no callback_url. */
type Known = null | Target;

/**
 * Sends each job's state changes to its `callback_url`. It listens on the event bus, so it adds
 * nothing to a transition: the job moves on while lookups and deliveries happen here, in order
 * per job. The scheduler tells it of each job it queues (`noteSubmitted`), so a job without a
 * callback costs no query at all; a job this process did not queue (one left by a restart) costs
 * one at its first state, and a job with a callback one more at its end (for the result).
 */
export class CallbackDispatcher {
  private readonly queue: DeliveryQueue;
  private readonly known = new Map<string, Known>();
  /** Per job, the tail of its intake chain: events are looked up and queued one after the other. */
  private readonly intake = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private warnedUnsigned = false;

  constructor(private readonly deps: CallbackDispatcherDeps) {
    const { config } = deps;
    this.queue = new DeliveryQueue({
      maxAttempts: config.max_attempts,
      timeoutMs: config.timeout_ms,
      maxPending: config.max_pending,
      allowPrivate: config.allow_private,
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
      onEnd: (d, outcome, last, attempts) => this.ended(d, outcome, last, attempts),
    });
  }

  /** Deliveries waiting or being tried. */
  get pending(): number {
    return this.queue.size;
  }

  start(): void {
    this.unsubscribe ??= this.deps.bus.subscribeAll((jobId, event) => this.onEvent(jobId, event));
  }

  /**
   * Stops listening, gives what is queued up to `drainMs` to go out, then drops the rest (counted
   * `abandoned`): pending deliveries live in memory only, so a stop or crash loses them.
   */
  async stop(drainMs = 0): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.allSettled([...this.intake.values()]);
    await this.queue.close(drainMs);
  }

  /** A job was just stored as queued; called before its first state event is published. */
  noteSubmitted(
    job: { id: string; kind: string; token_id: string | null },
    spec: { callback_url?: string | undefined; callback_secret?: string | undefined },
  ): void {
    if (!this.unsubscribe) return;
    this.remember(
      job.id,
      spec.callback_url
        ? { url: spec.callback_url, kind: job.kind, tokenId: job.token_id, jobSecret: spec.callback_secret, attempts: 0 }
        : null,
    );
  }

  // Called inside EventBus.publish, i.e. inside a transition: it must be cheap and never throw.
  private onEvent(jobId: string, event: StoredEvent): void {
    if (event.type !== 'state') return;
    const data = event.data as { state?: unknown; reason?: unknown; attempt?: unknown } | null;
    if (typeof data?.state !== 'string') return;
    const change: StateChange = {
      state: data.state,
      reason: typeof data.reason === 'string' ? data.reason : undefined,
      attempt: typeof data.attempt === 'number' ? data.attempt : undefined,
      at: event.created_at,
    };
    if (this.known.get(jobId) === null && !this.intake.has(jobId)) {
      if (isTerminal(change.state)) this.known.delete(jobId);
      return;
    }
    const tail = (this.intake.get(jobId) ?? Promise.resolve())
      .then(() => this.handle(jobId, change))
      .catch((err: unknown) => this.deps.log.warn({ err, jobId }, 'queueing a job callback failed'));
    this.intake.set(jobId, tail);
    void tail.then(() => {
      if (this.intake.get(jobId) === tail) this.intake.delete(jobId);
    });
  }

  private async handle(jobId: string, change: StateChange): Promise<void> {
    const terminal = isTerminal(change.state);
    let target = this.known.get(jobId);
    let ended: CallbackTargetRow | undefined;
    if (target === undefined || (target && terminal)) {
      // Not seen before (queued before a restart), or its end: read the job (its result is needed).
      ended = await this.deps.store.getCallbackTarget(jobId);
      if (target === undefined && ended?.callback_url) {
        target = {
          url: ended.callback_url,
          kind: ended.kind,
          tokenId: ended.token_id,
          jobSecret: ended.callback_secret ?? undefined,
          secret: ended.callback_secret || ended.token_callback_secret || this.deps.config.secret,
          attempts: ended.attempts,
        };
      }
    }
    if (terminal) this.known.delete(jobId);
    if (!target) {
      if (!terminal) this.remember(jobId, null);
      return;
    }
    const previous = target.last;
    if (change.attempt !== undefined) target.attempts = change.attempt;
    target.last = change.state;
    if (!terminal) this.remember(jobId, target);
    const body = JSON.stringify(callbackPayload({ id: jobId, ...target }, change, previous, ended));
    const secret = await this.secretOf(target);
    const id = randomUUID();
    this.queue.enqueue({
      id,
      key: jobId,
      url: target.url,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': `paddock/${VERSION}`,
        'x-paddock-event': 'job.state',
        'x-paddock-delivery': id,
        ...(secret ? { 'x-paddock-signature': signBody(secret, body) } : {}),
      },
    });
  }

  /** The job's secret, else its token's (read once per job), else `callbacks.secret`; '' when none. */
  private async secretOf(target: Target): Promise<string> {
    if (target.secret === undefined) {
      const token = target.jobSecret || !target.tokenId ? undefined : await this.deps.store.getToken(target.tokenId);
      target.secret = target.jobSecret || token?.callback_secret || this.deps.config.secret;
    }
    if (!target.secret) this.warnUnsignedOnce();
    return target.secret;
  }

  private remember(jobId: string, value: Known): void {
    this.known.delete(jobId);
    this.known.set(jobId, value);
    if (this.known.size > KNOWN_JOBS_MAX) this.known.delete(this.known.keys().next().value!);
  }

  private warnUnsignedOnce(): void {
    if (this.warnedUnsigned) return;
    this.warnedUnsigned = true;
    this.deps.log.warn(
      'job callbacks are sent unsigned: neither the job (callback_secret), its token (--callback-secret) nor callbacks.secret gives a secret',
    );
  }

  private ended(d: Delivery, outcome: DeliveryOutcome, last: SendOutcome | undefined, attempts: number): void {
    this.deps.metrics.callbacks.inc({ outcome });
    if (outcome === 'delivered') return;
    // The origin only: a URL's path or query may carry a token of the receiver's.
    let origin = '';
    try {
      origin = new URL(d.url).origin;
    } catch {
      // logged without it
    }
    const detail = last && last.kind !== 'delivered' ? { error: last.error, ...('status' in last ? { status: last.status } : {}) } : {};
    this.deps.log.warn({ jobId: d.key, delivery: d.id, origin, outcome, attempts, ...detail }, 'job callback not delivered');
  }
}
