import { DeliveryQueue } from '../../../jobs/callbacks/queue.js';
import { sendCallback } from '../../../jobs/callbacks/send.js';
import { SIGNATURE_HEADER, signBody } from '../../../jobs/callbacks/signature.js';
import type { Runtime } from '../../../runtime.js';
import type { JobRow } from '../../../store/store.js';
import { newId } from '../../../util/ids.js';
import { Judge0Error } from './errors.js';

/** Judge0's CALLBACKS_MAX_TRIES. */
export const CALLBACK_TRIES = 3;

/**
 * Judge0's `callback_url`: when the submission's job ends, one PUT of it (base64, default fields,
 * as Judge0 sends it), tried up to 3 times. Delivery is the native callbacks' own (src/jobs/callbacks/):
 * the same refusal of private destinations at submit and at every connect, the same bounded queue.
 * In memory only: a job that ends while this process is not running is not called back.
 */
export class Judge0Callbacks {
  private readonly queue: DeliveryQueue;
  private waiting = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly render: (row: JobRow) => Record<string, unknown>,
  ) {
    const c = rt.config.callbacks;
    this.queue = new DeliveryQueue({
      maxAttempts: CALLBACK_TRIES,
      timeoutMs: c.timeout_ms,
      maxPending: c.max_pending,
      allowPrivate: c.allow_private,
      send: (req) => sendCallback({ ...req, method: 'PUT' }),
      onEnd: (d, outcome, last, attempts) => {
        if (outcome === 'delivered') return;
        const detail = last && 'error' in last ? last.error : undefined;
        rt.log.warn({ jobId: d.key, outcome, attempts, error: detail }, 'judge0 callback not delivered');
      },
    });
  }

  /** Before submitting a job with a callback: 503 when as many are waiting as the callbacks queue holds. */
  reserve(): void {
    if (this.waiting >= this.rt.config.callbacks.max_pending) {
      throw new Judge0Error(503, { error: 'too many submissions with a callback_url are pending; try again later' }, 5);
    }
  }

  /** Waits for the job's end (at most `timeoutMs`), then queues its PUT. Never throws. */
  watch(jobId: string, url: string, timeoutMs: number): void {
    this.waiting++;
    void this.rt.scheduler
      .waitForEnd(jobId, timeoutMs)
      .then(async (ended) => {
        const row = ended ? await this.rt.store.getJob(jobId) : undefined;
        if (!row) return;
        const body = JSON.stringify(this.render(row));
        const secret = this.rt.config.callbacks.secret;
        this.queue.enqueue({
          id: newId('cb'),
          key: jobId,
          url,
          body,
          headers: { 'content-type': 'application/json', ...(secret ? { [SIGNATURE_HEADER]: signBody(secret, body) } : {}) },
        });
      })
      .catch((err: unknown) => this.rt.log.warn({ err, jobId }, 'judge0 callback could not be queued'))
      .finally(() => this.waiting--);
  }

  close(): Promise<void> {
    return this.queue.close(0);
  }
}
