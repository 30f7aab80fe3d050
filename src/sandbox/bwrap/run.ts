import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { OutputSink } from '../driver.js';
import { OutputCapture } from '../output.js';

/** bwrap's --json-status-fd and --block-fd, as the child sees them. */
export const STATUS_FD = 3;
export const BLOCK_FD = 4;

/** Collects one child's output, status fd and exit, and kills it on abort. */
export class Run {
  readonly stdout: OutputCapture;
  readonly stderr: OutputCapture;
  abortedReason: string | undefined;
  onChildPid: ((pid: number) => Promise<void>) | undefined;
  /**
   * Called once if bwrap's status fd closes before it told us its child: bwrap's outer
   * process died between its clone and that report, which can leave the child behind.
   */
  onLostChild: (() => void) | undefined;
  /** bwrap's child: pid 1 of the sandbox's pid namespace, once bwrap reports it. */
  private sandboxPid: number | undefined;
  readonly done: Promise<{ code: number | null; signal: string | null; spawnError?: Error }>;

  constructor(
    private readonly child: ChildProcess,
    outputLimit: number,
    sink: OutputSink,
  ) {
    this.stdout = new OutputCapture(outputLimit);
    this.stderr = new OutputCapture(outputLimit);
    this.pump(child.stdout!, this.stdout, 'stdout', sink);
    this.pump(child.stderr!, this.stderr, 'stderr', sink);
    this.watchStatus(child.stdio[STATUS_FD] as Readable);
    // Writes to a process that already died must not crash the runner.
    child.stdin?.on('error', () => undefined);
    (child.stdio[BLOCK_FD] as Writable | null)?.on('error', () => undefined);
    this.done = new Promise((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
  }

  private pump(stream: Readable, capture: OutputCapture, name: 'stdout' | 'stderr', sink: OutputSink): void {
    stream.on('data', (chunk: Buffer) => {
      const kept = capture.push(chunk);
      if (kept.length) sink(name, kept);
      // Past the cap, close our end like `| head -c` would: the writer gets
      // SIGPIPE instead of being drained forever at the runner's expense.
      if (capture.truncated) stream.destroy();
    });
    stream.on('error', () => undefined);
  }

  /** Whether bwrap got as far as reporting its child (so the sandbox was set up). */
  get started(): boolean {
    return this.sandboxPid !== undefined;
  }

  /** bwrap's --json-status-fd tells us the sandbox's pid before the command runs. */
  private watchStatus(stream: Readable): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      buffered += text;
      const m = /"child-pid"\s*:\s*(\d+)/.exec(buffered);
      if (!m || this.sandboxPid !== undefined) return;
      this.sandboxPid = Number(m[1]);
      // Aborted before bwrap told us its child: kill that child rather than release it.
      if (this.abortedReason) return this.kill();
      const enter = this.onChildPid;
      this.onChildPid = undefined;
      enter?.(this.sandboxPid).catch(() => this.kill());
    });
    stream.on('error', () => undefined);
    // Only bwrap's outer process (and the links above it) hold this fd; its child closes it
    // right after the clone. So at its end every report has been read, and a child never
    // reported was cloned by a bwrap that then failed (e.g. EMFILE opening /proc/PID/ns
    // under a small RLIMIT_NOFILE) and waits forever for a go it will never get,
    // orphaned, holding our stdout and stderr.
    stream.once('close', () => {
      if (this.sandboxPid === undefined) this.onLostChild?.();
    });
  }

  abort(reason: string, killTree: () => unknown): void {
    if (this.abortedReason) return;
    this.abortedReason = reason;
    this.kill();
    void Promise.resolve(killTree()).catch(() => undefined);
  }

  private kill(): void {
    // bwrap's child (pid 1 of the sandbox's pid namespace, whose death takes every
    // process in the sandbox with it) is not bound by --die-with-parent until it is
    // set up, and a bwrap killed before reporting it would leave it behind, blocked
    // and holding our pipes. So kill it directly, finding it first if unreported.
    const pid = this.child.pid;
    const alive = this.child.exitCode === null && this.child.signalCode === null;
    if (this.sandboxPid === undefined && pid !== undefined && alive) {
      for (const c of stoppedChildrenOf(pid)) trySigkill(c);
    }
    this.child.kill('SIGKILL');
    if (this.sandboxPid !== undefined) trySigkill(this.sandboxPid);
  }
}

function trySigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * SIGKILLs every process of host uid `uid` whose environment holds `marker` (`NAME=value`):
 * bwrap's child keeps the environment Paddock gave the chain until it execs the command
 * (which gets a fresh one from --clearenv). Reads /proc, so it is for failure paths only.
 */
export function killMarked(marker: string, uid: number): number {
  const needle = Buffer.from(`${marker}\0`);
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (statSync(`/proc/${entry}`).uid !== uid) continue;
      const env = readFileSync(`/proc/${entry}/environ`);
      if (!env.subarray(0, needle.length).equals(needle) && env.indexOf(Buffer.concat([Buffer.from([0]), needle])) < 0) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return killed;
}

/** Stops `pid` (so it cannot fork any more) and returns its children. */
function stoppedChildrenOf(pid: number): number[] {
  try {
    process.kill(pid, 'SIGSTOP');
    const state = () => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2];
    };
    // A fork in flight completes before the stop takes effect; wait for it.
    for (let i = 0; i < 10_000 && !'tTZX'.includes(state() ?? 'X'); i++);
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}
