import pg from 'pg';
import { QUEUED_CHANNEL } from '../store/ops/jobs-write.js';
import { EVENTS_CHANNEL } from './remote-events.js';
import type { Logger } from '../util/log.js';

/** Waits between reconnects of the LISTEN connection while the database is away. */
const RECONNECT_MS = 1000;

/**
 * Tells this host what other hosts did, on PostgreSQL: LISTEN (one dedicated connection, reconnected
 * after a loss) on the channel every queueing transaction NOTIFYs — there may be jobs to claim — and
 * on the one every stored job event NOTIFYs (`onEvent`, for followers of jobs other hosts run); a
 * poll every `pollMs` is the fallback for queued jobs noticed while disconnected.
 */
export class JobWakeup {
  private client: pg.Client | undefined;
  private poller: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private closed = false;
  private broken = false;

  constructor(
    private readonly opts: {
      url: string;
      listen: boolean;
      pollMs: number;
      log: Logger;
      wake: () => void;
      onEvent: (payload: string) => void;
    },
  ) {}

  start(): void {
    if (this.opts.pollMs > 0) {
      this.poller = setInterval(this.opts.wake, this.opts.pollMs);
      this.poller.unref();
    }
    if (this.opts.listen) void this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 5000, application_name: 'paddock-listen' });
    this.client = client;
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      if (!this.broken) this.opts.log.warn({ err: err?.message }, 'job notifications lost; polling until they are back');
      this.broken = true;
      this.reconnect = setTimeout(() => void this.listen(), RECONNECT_MS);
      this.reconnect.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => (msg.channel === EVENTS_CHANNEL ? this.opts.onEvent(msg.payload ?? '') : this.opts.wake()));
    try {
      await client.connect();
      await client.query(`LISTEN ${QUEUED_CHANNEL}; LISTEN ${EVENTS_CHANNEL}`);
      if (this.broken) this.opts.log.info('job notifications are back');
      this.broken = false;
      // Whatever was queued while it was not listening.
      this.opts.wake();
    } catch (err) {
      lost(err as Error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    clearTimeout(this.reconnect);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
