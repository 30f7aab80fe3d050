import { protocolError } from './errors.js';
import { INITIAL_WINDOW } from './protocol.js';

/**
 * What the agent lets the runner send on one (stream, channel). Credit the agent returns is for
 * bytes it consumed, so the window can never grow past its start; more is a protocol error.
 */
export class SendWindow {
  private available = INITIAL_WINDOW;
  private closed = false;
  private waiters: Array<() => void> = [];

  grant(increment: number): void {
    if (this.available + increment > INITIAL_WINDOW) {
      throw protocolError(`WINDOW of ${increment} grows the window past ${INITIAL_WINDOW}`);
    }
    this.available += increment;
    this.wake();
  }

  /** Up to `max` bytes of credit, waiting while there is none; 0 once the stream is closed. */
  async take(max: number): Promise<number> {
    while (!this.closed && this.available === 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closed) return 0;
    const n = Math.min(max, this.available);
    this.available -= n;
    return n;
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
