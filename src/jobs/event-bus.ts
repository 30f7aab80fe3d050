import { EventEmitter } from 'node:events';
import type { StoredEvent } from '../store/store.js';

export type JobEventListener = (event: StoredEvent) => void;

/**
 * In-process fan-out of job events that are already stored. Stored first, then
 * published, so a subscriber that replays from the store and then listens sees
 * every event (deduplicating by seq). A fleet will put PostgreSQL NOTIFY behind this.
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

  subscribe(jobId: string, listener: JobEventListener): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  subscribeAll(listener: (jobId: string, event: StoredEvent) => void): () => void {
    this.emitter.on('*', listener);
    return () => this.emitter.off('*', listener);
  }
}
