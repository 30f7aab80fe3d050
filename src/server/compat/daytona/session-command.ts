import type { ExecRun } from '../../../sandboxes/exec-run.js';

export type Stream = 'stdout' | 'stderr';
export type Follower = (stream: Stream, chunk: Buffer) => void;

/**
 * One command of a Daytona session: a native exec (detached, so it runs on without its client)
 * whose output is kept here as it comes, in order, up to `limit` bytes all streams together, for
 * `…/logs` and for followers that join late. Followers get what comes next as it comes.
 */
export class SessionCommand {
  private readonly chunks: { stream: Stream; data: Buffer }[] = [];
  private kept = 0;
  truncated = false;
  exitCode: number | undefined;
  private readonly followers = new Set<Follower>();
  readonly ended: Promise<void>;

  constructor(
    readonly run: ExecRun,
    readonly command: string,
    private readonly limit: number,
  ) {
    // The agent waits for this callback: it only copies, so the process runs at its own pace.
    run.attach(async (stream, chunk) => this.push(stream, chunk));
    this.ended = run.result.then(
      (r) => {
        this.exitCode = r.exit_code ?? -1;
      },
      (err: Error) => {
        this.push('stderr', Buffer.from(`\n${err.message}\n`));
        this.exitCode = -1;
      },
    );
  }

  get id(): string {
    return this.run.id;
  }

  private push(stream: Stream, chunk: Buffer): void {
    for (const f of this.followers) f(stream, chunk);
    const room = this.limit - this.kept;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push({ stream, data: Buffer.from(part) });
    this.kept += part.length;
  }

  /** What came so far, then every chunk to come until `unfollow`: no chunk is missed or sent twice. */
  follow(f: Follower): () => void {
    for (const c of this.chunks) f(c.stream, c.data);
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  /** Whether ended and still holding output (see Sessions.add). */
  get holdsOutput(): boolean {
    return this.exitCode !== undefined && this.kept > 0;
  }

  /** Forgets the kept output of an ended command; its logs read empty from then on. */
  dropOutput(): void {
    this.chunks.length = 0;
    this.kept = 0;
  }

  logs(): { output: string; stdout: string; stderr: string } {
    const text = (only?: Stream) =>
      new TextDecoder('utf-8').decode(Buffer.concat(this.chunks.filter((c) => !only || c.stream === only).map((c) => c.data)));
    return { output: text(), stdout: text('stdout'), stderr: text('stderr') };
  }

  view(): { id: string; command: string; exitCode?: number } {
    return { id: this.id, command: this.command, ...(this.exitCode !== undefined ? { exitCode: this.exitCode } : {}) };
  }
}
