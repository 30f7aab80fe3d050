import { PaddockError } from '../errors.js';

/** What a refused stream is told to wait before trying again. */
const RETRY_AFTER_S = 5;

/** Gives back a stream's place; safe to call more than once. */
export type Release = () => void;

/**
 * Counts open event streams against the runner-wide cap (`http.max_streams`).
 * Per-token caps are the admission layer's; the route asks both.
 */
export class StreamGate {
  private open = 0;

  constructor(readonly max: number) {}

  get count(): number {
    return this.open;
  }

  /** Takes a place or throws `429 too_many_streams` with Retry-After. */
  enter(): Release {
    if (this.open >= this.max) {
      throw new PaddockError('too_many_streams', `the runner has ${this.max} event streams open; try again later`, {
        limit: this.max,
        retry_after_s: RETRY_AFTER_S,
      });
    }
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }
}

