import net from 'node:net';
import { PaddockError } from '../../errors.js';

/** A QMP answer or event is one JSON object per line; a line past this is QEMU gone wrong. */
const MAX_LINE = 1024 * 1024;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * A client for QEMU's machine protocol on a unix socket: commands one at a time in order (QMP
 * answers in order), events to `onEvent`. QEMU is ours, but its socket is still bounded.
 */
export class Qmp {
  private buf = '';
  private readonly queue: Pending[] = [];
  private closedWith: Error | undefined;
  onEvent: (event: string, data: unknown) => void = () => undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => this.close(err));
    sock.on('close', () => this.close(new Error('QMP connection closed')));
  }

  static async connect(socketPath: string, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(sock);
        await qmp.greeting();
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (err) {
        if (Date.now() > deadline) throw new PaddockError('driver_error', `QEMU's QMP socket did not answer: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  private greetingWaiter: Pending | undefined;

  private greeting(): Promise<unknown> {
    return new Promise((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
  }

  /** Runs one command; QEMU's `error` answer rejects with its description. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) this.onLine(line);
    }
    if (this.buf.length > MAX_LINE) this.close(new Error('QMP line too long'));
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.close(new Error('QMP sent a line that is not JSON'));
    }
    if ('QMP' in msg) {
      this.greetingWaiter?.resolve(msg);
      this.greetingWaiter = undefined;
    } else if ('event' in msg) {
      this.onEvent(String(msg.event), msg.data);
    } else if ('return' in msg || 'error' in msg) {
      const p = this.queue.shift();
      if (!p) return;
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        p.reject(new PaddockError('driver_error', `QEMU: ${e.desc ?? e.class ?? 'error'}`));
      } else p.resolve(msg.return);
    }
  }

  close(err: Error = new Error('QMP closed')): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.greetingWaiter?.reject(err);
    for (const p of this.queue.splice(0)) p.reject(err);
    this.sock.destroy();
  }
}
