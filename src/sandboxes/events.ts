/** How many recent events of one sandbox are kept for a reader that resumes with Last-Event-ID. */
const RING = 256;
/** How long the events of a destroyed sandbox stay readable. */
const KEEP_AFTER_END_MS = 10 * 60_000;

export type SandboxEventType = 'created' | 'exec_started' | 'exec_ended' | 'paused' | 'resumed' | 'expired' | 'destroyed';

export interface SandboxEvent {
  seq: number;
  type: SandboxEventType;
  data: Record<string, unknown>;
  at: string;
}

interface Log {
  seq: number;
  ring: SandboxEvent[];
  listeners: Set<(e: SandboxEvent) => void>;
  ended: boolean;
}

/**
 * Lifecycle events of sandboxes, in memory only: a sandbox lives on one runner and
 * ends with it, so there is nothing to replay across restarts. The last RING
 * events per sandbox are kept for resuming readers; a reader further behind
 * starts from the oldest kept (it can tell from the seq gap).
 */
export class SandboxEvents {
  private readonly logs = new Map<string, Log>();

  publish(id: string, type: SandboxEventType, data: Record<string, unknown> = {}): void {
    let log = this.logs.get(id);
    if (!log) this.logs.set(id, (log = { seq: 0, ring: [], listeners: new Set(), ended: false }));
    const event: SandboxEvent = { seq: ++log.seq, type, data, at: new Date().toISOString() };
    log.ring.push(event);
    if (log.ring.length > RING) log.ring.shift();
    if (type === 'destroyed') {
      log.ended = true;
      setTimeout(() => this.logs.get(id) === log && this.logs.delete(id), KEEP_AFTER_END_MS).unref();
    }
    for (const listener of log.listeners) listener(event);
  }

  /** Kept events after `afterSeq`, whether more will come, and a subscription for them. */
  follow(id: string, afterSeq: number, listener: (e: SandboxEvent) => void): { past: SandboxEvent[]; ended: boolean; stop: () => void } {
    const log = this.logs.get(id);
    if (!log) return { past: [], ended: true, stop: () => {} };
    log.listeners.add(listener);
    return { past: log.ring.filter((e) => e.seq > afterSeq), ended: log.ended, stop: () => log.listeners.delete(listener) };
  }

  forget(id: string): void {
    this.logs.delete(id);
  }
}
