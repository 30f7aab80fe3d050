import { constants } from 'node:os';
import { finished, Writable } from 'node:stream';
import { PaddockError, toPaddockError } from '../errors.js';
import type { AgentClient } from '../sandbox/agent/agent-client.js';
import type { ExecHandle } from '../sandbox/agent/exec.js';
import type { ExecSignal } from '../sandbox/agent/protocol.js';
import { OutputCapture } from '../sandbox/output.js';
import { newId } from '../util/ids.js';

export interface ExecSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Given in the request: written and closed at once. */
  stdin?: Buffer | undefined;
  /** Keep stdin open for POST …/stdin. */
  stdinStream: boolean;
  timeoutMs: number;
  /** Keep the output in the result kept for GET …/execs/:id (a detached exec; the others' readers got it). */
  keepOutput: boolean;
  /** RLIMIT_CPU of the exec's processes, in seconds. */
  cpuSeconds: number;
  /** Bytes kept per stream for the result. */
  outputBytes: number;
  /** Past `outputBytes` the process group is killed (JSON answers); a streamed exec runs on. */
  killAtCap: boolean;
}

/** The API's exec result (the same fields as a job's result). */
export interface ExecOutcome {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  timed_out: boolean;
  wall_ms: number;
  cpu_ms: number | null;
  max_rss_kb: number | null;
}

/** Where a streamed exec's output goes; resolving is the reader's credit (the agent waits meanwhile). */
export type OutputSink = (stream: 'stdout' | 'stderr', chunk: Buffer) => Promise<void>;

/**
 * One stream of an exec's output: kept (capped) for the result, and passed to the
 * attached sink — whose pace is the process's pace: the callback is the agent's
 * credit, so a slow SSE reader makes the process block on its pipe instead of
 * growing the runner's memory. Without a sink (JSON answer, detached) it drains.
 */
class OutputTee extends Writable {
  readonly capture: OutputCapture;
  sink: OutputSink | undefined;

  constructor(
    private readonly name: 'stdout' | 'stderr',
    limit: number,
    private readonly onCap: () => void,
  ) {
    super();
    this.capture = new OutputCapture(limit);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const wasTruncated = this.capture.truncated;
    this.capture.push(chunk);
    if (!wasTruncated && this.capture.truncated) this.onCap();
    const sink = this.sink;
    if (!sink) return cb();
    // A failing reader is the reader's problem: the process's output is not the place to report it.
    sink(this.name, chunk).then(
      () => cb(),
      () => cb(),
    );
  }
}

/** Ends a tee and resolves once it has passed on everything written to it (or failed). */
function settled(tee: OutputTee): Promise<void> {
  tee.end();
  return new Promise((resolve) => finished(tee, () => resolve()));
}

/** One exec in a sandbox, from start to its result; kept a while after it ends for GET …/execs/:id. */
export class ExecRun {
  readonly id = newId('exec');
  readonly started: Promise<{ pid: number }>;
  readonly result: Promise<ExecOutcome>;
  private readonly handle: ExecHandle;
  private readonly out: OutputTee;
  private readonly err: OutputTee;
  /** What GET …/execs/:id shows once it ended: the result (its output only if kept), or why it failed. */
  private outcome: ExecOutcome | undefined;
  private failure: PaddockError | undefined;
  private timedOut = false;
  /** Set when the sandbox ended under the exec: that is its answer, not the kill it caused. */
  private endedBy: PaddockError | undefined;

  constructor(agent: AgentClient, spec: ExecSpec) {
    const t0 = performance.now();
    const onCap = () => spec.killAtCap && this.handle.cancel();
    this.out = new OutputTee('stdout', spec.outputBytes, onCap);
    this.err = new OutputTee('stderr', spec.outputBytes, onCap);
    this.handle = agent.exec(
      {
        argv: spec.argv,
        env: spec.env,
        cwd: spec.cwd,
        stdin: spec.stdinStream || spec.stdin !== undefined,
        rlimits: { cpu: spec.cpuSeconds },
      },
      { stdout: this.out, stderr: this.err },
    );
    if (this.handle.stdin && !spec.stdinStream) this.handle.stdin.end(spec.stdin);
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.handle.cancel();
    }, spec.timeoutMs);
    this.started = this.handle.started;
    this.result = this.handle.result.then(
      async (r) => {
        // The agent's output has been read, but a slow sink may still hold some of it: the result waits for the sink.
        await Promise.all([settled(this.out), settled(this.err)]);
        if (this.endedBy) throw this.endedBy;
        const outcome: ExecOutcome = {
          // As jobs report it: killed by signal N is exit code 128+N.
          exit_code: r.signal ? 128 + ((constants.signals as Record<string, number>)[r.signal] ?? 0) : r.exitCode,
          signal: r.signal,
          stdout: this.out.capture.text(),
          stderr: this.err.capture.text(),
          stdout_truncated: this.out.capture.truncated,
          stderr_truncated: this.err.capture.truncated,
          timed_out: this.timedOut,
          wall_ms: Math.round(performance.now() - t0),
          cpu_ms: r.cpuMs,
          max_rss_kb: r.maxRssKb,
        };
        this.outcome = spec.keepOutput ? outcome : { ...outcome, stdout: '', stderr: '' };
        return outcome;
      },
      (err: unknown) => {
        this.failure = this.endedBy ?? toPaddockError(err);
        throw this.failure;
      },
    );
    this.result.catch(() => {}).finally(() => clearTimeout(timer));
  }

  get ended(): boolean {
    return this.outcome !== undefined || this.failure !== undefined;
  }

  get lastResult(): ExecOutcome | undefined {
    return this.outcome;
  }

  /** Why the exec has no result (it could not start, its sandbox ended, its agent died). */
  get error(): PaddockError | undefined {
    return this.failure;
  }

  /** Whether the kept result still holds output (see LiveSandbox.addExec). */
  get holdsOutput(): boolean {
    return !!this.outcome && (this.outcome.stdout.length > 0 || this.outcome.stderr.length > 0);
  }

  dropOutput(): void {
    if (this.outcome) this.outcome = { ...this.outcome, stdout: '', stderr: '' };
  }

  /** Streams output to `sink` from now on; detach() (reader gone, detached exec) lets it drain again. */
  attach(sink: OutputSink): void {
    this.out.sink = sink;
    this.err.sink = sink;
  }

  detach(): void {
    this.out.sink = undefined;
    this.err.sink = undefined;
  }

  /** Bytes for the process's stdin (an exec started with `stdin_stream`); resolves once the agent took them. */
  async writeStdin(chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, eof: boolean): Promise<void> {
    const stdin = this.handle.stdin;
    if (!stdin || stdin.writableEnded) {
      throw new PaddockError('conflict', `exec ${this.id} takes no more stdin (start it with "stdin_stream": true; after eof it is closed)`);
    }
    for await (const chunk of chunks) {
      if (this.ended || stdin.destroyed) break;
      if (!stdin.write(chunk)) await new Promise<void>((resolve) => {
        stdin.once('drain', resolve);
        stdin.once('close', resolve);
      });
    }
    if (eof && !stdin.writableEnded) stdin.end();
  }

  signal(name: ExecSignal): void {
    if (this.ended) throw new PaddockError('conflict', `exec ${this.id} has exited`);
    this.handle.control(name);
  }

  /** Kills the process group; `result` settles with the agent's answer, or with `because` when given. */
  cancel(because?: PaddockError): void {
    this.endedBy ??= because;
    this.handle.cancel();
  }
}
