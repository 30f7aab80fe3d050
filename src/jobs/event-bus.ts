import { EventEmitter } from 'node:events';
import type { StoredEvent } from '../store/store.js';

export type JobEventListener = (event: StoredEvent) => void;

/**
 * In-process fan-out of job events that are already stored. Stored first, then
 * published, so a subscriber that replays from the store and then listens sees
 * every event (deduplicating by seq). In a fleet, events another host stored come in
 * through `publishRemote` (src/fleet/remote-events.ts).
 */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per open SSE stream or waiting request; there is no leak to warn about.
    this.emitter.setMaxListeners(0);
  }

  publish(jobId: string, event: StoredEvent): void {
    this.emitter.emit(jobId, event);
    this.emitter.emit('*', jobId, event);
  }

  /**
   * An event another host stored (and told of by NOTIFY): to this job's own listeners only —
   * `subscribeAll` listeners (status callbacks) act on the events of the host that wrote them.
   */
  publishRemote(jobId: string, event: StoredEvent): void {
    this.emitter.emit(jobId, event);
  }

  /** Whether anything here follows this job (a stream, a waiting request). */
  isFollowed(jobId: string): boolean {
    return this.emitter.listenerCount(jobId) > 0;
  }

  subscribe(jobId: string, listener: JobEventListener): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  subscribeAll(listener: (jobId: string, event: StoredEvent) => void): () => void {
    this.emitter.on('*', listener);
    return () => this.emitter.off('*', listener);
  }
}
