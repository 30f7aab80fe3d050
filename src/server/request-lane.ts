import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PaddockError } from '../errors.js';

/** Requests let through per turn of the event loop; ~0.5 ms of work each, so a turn stays near 10 ms. */
export const LANE_BATCH = 16;

/**
 * Holds authenticated API requests in per-caller queues and lets a few through per
 * turn of the event loop, round-robin between callers. Why: Node runs every request
 * that is ready in one go, so 5,000 submits at once used to keep /health (and every
 * other caller) waiting for seconds behind them. Requests wait here before their body
 * is read, auth is checked or anything is stored, so a waiting request costs a socket
 * and nothing more; routes without a scope (/health, /metrics) never wait. One
 * caller's burst delays another caller by a turn, not by the burst.
 *
 * Callers are keyed by their Authorization (or preview-token) header as sent, before it
 * is checked (checking is part of the work being queued): a bad token only queues
 * behind itself.
 */
export class RequestLane {
  private readonly queues = new Map<string, Array<() => void>>();
  private pending = 0;
  private scheduled = false;

  constructor(private readonly maxPending: number) {}

  get waiting(): number {
    return this.pending;
  }

  /** Resolves when it is this caller's turn; throws `429 overloaded` when the lane is full. */
  enter(key: string): Promise<void> {
    if (this.pending >= this.maxPending) {
      throw new PaddockError('overloaded', `the runner has ${this.pending} requests waiting; retry shortly`, {
        retry_after_s: 1,
      });
    }
    return new Promise((resolve) => {
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = []));
      queue.push(resolve);
      this.pending++;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the poll phase: I/O that became ready (a /health request) is served first.
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    for (let granted = 0; granted < LANE_BATCH && this.pending > 0; granted++) {
      // The first caller in the map is the one served longest ago; served, it goes to the back.
      const [key, queue] = this.queues.entries().next().value as [string, Array<() => void>];
      const next = queue.shift()!;
      this.queues.delete(key);
      if (queue.length > 0) this.queues.set(key, queue);
      this.pending--;
      next();
    }
    if (this.pending > 0) this.schedule();
  }
}

/** Every route that declares a scope goes through the lane; registered before auth, so auth waits too. */
export function installRequestLane(app: FastifyInstance, lane: RequestLane): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!request.routeOptions.config.scope) return;
    const preview = request.headers['x-paddock-preview-token'];
    await lane.enter(request.headers.authorization ?? (typeof preview === 'string' ? `preview:${preview}` : ''));
    // Gone while it waited: no work for nobody (a submit nobody got an id for is not stored).
    if (request.raw.socket?.destroyed) throw new PaddockError('overloaded', 'client went away while waiting');
  });
}
