import type { EventBus } from '../jobs/event-bus.js';
import { isTerminal } from '../jobs/states.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';

/** The NOTIFY channel of migration 0011: `<job id>:<seq>` per stored event. */
export const EVENTS_CHANNEL = 'paddock_job_events';

/** Events read per store call while catching up on one job. */
const PAGE = 500;
/** Jobs followed at once that came from other hosts; past it the oldest cursor is dropped (it restarts from the next notice). */
const MAX_CURSORS = 10_000;

/**
 * Brings events other hosts store to this host's followers (event streams, `?wait=true`): a notice
 * `<job>:<seq>` for a job someone here follows makes it read the events after the last one it passed
 * on and publish them to that job's listeners. Jobs nobody here follows cost nothing but the notice.
 */
export class RemoteEvents {
  /** Per followed job, the highest seq passed on. */
  private readonly cursors = new Map<string, number>();
  private readonly busy = new Map<string, Promise<void>>();

  constructor(private readonly deps: { store: Pick<Store, 'listEvents'>; bus: EventBus; log: Logger; isLocal(jobId: string): boolean }) {}

  /** A NOTIFY payload from EVENTS_CHANNEL. */
  notice(payload: string): void {
    const at = payload.lastIndexOf(':');
    const jobId = payload.slice(0, at);
    const seq = Number(payload.slice(at + 1));
    if (at <= 0 || !Number.isInteger(seq)) return;
    // This host's own runs publish their events as they store them.
    if (!this.deps.bus.isFollowed(jobId) || this.deps.isLocal(jobId)) {
      this.cursors.delete(jobId);
      return;
    }
    const cursor = this.cursors.get(jobId);
    if (cursor !== undefined && seq <= cursor) return;
    if (cursor === undefined) {
      if (this.cursors.size >= MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
      // Followers replay what was stored before they subscribed; from here on is news.
      this.cursors.set(jobId, seq - 1);
    }
    const running = this.busy.get(jobId);
    const next = (running ?? Promise.resolve()).then(() => this.catchUp(jobId));
    this.busy.set(jobId, next);
    void next.finally(() => this.busy.get(jobId) === next && this.busy.delete(jobId));
  }

  private async catchUp(jobId: string): Promise<void> {
    try {
      for (;;) {
        const after = this.cursors.get(jobId);
        if (after === undefined) return;
        const page = await this.deps.store.listEvents(jobId, after, PAGE);
        for (const e of page) {
          this.deps.bus.publishRemote(jobId, e);
          this.cursors.set(jobId, e.seq);
          if (e.type === 'state' && isTerminal((e.data as { state: string }).state)) this.cursors.delete(jobId);
        }
        if (page.length < PAGE) return;
      }
    } catch (err) {
      this.deps.log.warn({ err, jobId }, 'reading another host\'s job events failed; the next notice tries again');
    }
  }
}
