import { PaddockError } from '../errors.js';
import { problemToError } from './problems.js';
import { readSse } from './sse.js';
import type { ExecResult, ExecStarted } from './sandbox-types.js';

export type ExecEvent =
  | ({ type: 'started' } & ExecStarted)
  | { type: 'stdout' | 'stderr'; data: string }
  | { type: 'exit'; result: ExecResult };

/** What an ExecStream needs of the API once the exec has an id. */
export interface ExecControl {
  writeStdin(execId: string, bytes: Uint8Array, eof: boolean): Promise<void>;
  signal(execId: string, signal: string): Promise<void>;
}

/**
 * A streamed exec: iterate it for `started`, then `stdout`/`stderr` chunks, then
 * `exit` with the result (its stdout/stderr are empty: the output came as
 * events). A failure in the runner (an `error` event) is thrown as a PaddockError. Leaving the loop early (break, throw) or aborting the
 * request's signal drops the connection, and the runner kills the command
 * (unless it was started with `detach`). Given `stdin`, it is sent as the
 * command reads it, and its end closes the command's stdin.
 */
export class ExecStream implements AsyncIterable<ExecEvent> {
  /** Set once `started` has been read. */
  execId: string | undefined;
  private iterated = false;
  private exited = false;
  private stdinIt: AsyncIterator<Uint8Array | string> | undefined;

  constructor(
    private readonly body: ReadableStream<Uint8Array>,
    private readonly control: ExecControl,
    private readonly stdin?: AsyncIterable<Uint8Array | string>,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<ExecEvent> {
    if (this.iterated) throw new Error('an ExecStream can be iterated once');
    this.iterated = true;
    let ended = false;
    try {
      for await (const m of readSse(this.body)) {
        const data = JSON.parse(m.data) as Record<string, unknown>;
        if (m.event === 'started') {
          const started = data as unknown as ExecStarted;
          this.execId = started.exec_id;
          if (this.stdin) void this.pumpStdin(started.exec_id, this.stdin);
          yield { type: 'started', ...started };
        } else if (m.event === 'stdout' || m.event === 'stderr') {
          yield { type: m.event, data: String(data.data ?? '') };
        } else if (m.event === 'exit') {
          this.exited = true;
          ended = true;
          yield { type: 'exit', result: data as unknown as ExecResult };
          return;
        } else if (m.event === 'error') {
          // The exec failed in the runner (agent gone, sandbox destroyed): the event is a problem body.
          this.exited = true;
          ended = true;
          throw problemToError(typeof data.status === 'number' ? data.status : 500, data);
        }
        // Other event types are a newer runner's: skipped, so this client keeps working.
      }
      if (!ended) throw new PaddockError('unreachable', 'the exec stream ended before the command exited');
    } finally {
      // Cancelling the body closes the connection: an exec still running is killed by the runner.
      if (!ended) await this.body.cancel().catch(() => undefined);
      this.exited = true;
      // Stdin may never end by itself (a terminal): ending its iterator lets the source go (a Readable is destroyed).
      void this.stdinIt?.return?.()?.catch(() => undefined);
    }
  }

  /** Drains the stream (output is dropped) and returns the result. */
  async wait(): Promise<ExecResult> {
    for await (const e of this) if (e.type === 'exit') return e.result;
    throw new PaddockError('unreachable', 'the exec stream ended before the command exited');
  }

  /** Sends a signal (TERM, KILL, INT, HUP…) to the command. */
  async kill(signal = 'TERM'): Promise<void> {
    if (!this.execId) throw new PaddockError('conflict', 'the exec has not started yet');
    await this.control.signal(this.execId, signal);
  }

  /**
   * Sends stdin a chunk at a time, each after the last was taken. A failure
   * once the command exited is expected (it stopped reading); before that,
   * stdin is closed so the command does not wait for input that never comes.
   */
  private async pumpStdin(execId: string, source: AsyncIterable<Uint8Array | string>): Promise<void> {
    const utf8 = new TextEncoder();
    const it = (this.stdinIt = source[Symbol.asyncIterator]());
    try {
      for (;;) {
        const next = await it.next();
        if (this.exited) return;
        if (next.done) break;
        const bytes = typeof next.value === 'string' ? utf8.encode(next.value) : next.value;
        if (bytes.byteLength > 0) await this.control.writeStdin(execId, bytes, false);
      }
      if (!this.exited) await this.control.writeStdin(execId, new Uint8Array(0), true);
    } catch {
      if (!this.exited) await this.control.writeStdin(execId, new Uint8Array(0), true).catch(() => undefined);
    }
  }
}
