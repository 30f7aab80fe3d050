import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { AgentTransport } from '../agent/session.js';
import type { Chain } from './chain.js';

/** bwrap's --json-status-fd and --block-fd, and the seccomp program, as the child sees them. */
export const STATUS_FD = 3;
export const BLOCK_FD = 4;
export const SECCOMP_FD = 5;

/** What is kept of the chain's stderr (bwrap's errors, then the agent's diagnostics) to say why a start failed. */
const STDERR_KEEP = 4096;
/** How long bwrap gets to reap its killed child and exit before it is killed as well. */
const BWRAP_EXIT_MS = 1000;

export interface SpawnOptions {
  chain: Chain;
  /** The host environment of the chain: bwrap keeps it until it execs the agent (--clearenv). */
  env: Record<string, string>;
  seccompFd: number;
  /** Hold bwrap's child on its block fd until `onChildPid` has resolved (it enters the cgroup meanwhile). */
  block: boolean;
  onChildPid?: ((pid: number) => Promise<void>) | undefined;
  /** bwrap's status fd closed before it named its child: that child may be left behind. */
  onLostChild?: (() => void) | undefined;
  /** Every chunk of stderr, for the bounded diagnostics log. */
  onStderr?: ((chunk: Buffer) => void) | undefined;
}

/**
 * One long-lived bwrap whose child, the sandbox's PID 1, is the agent: its stdin and
 * stdout are the agent's channel, stderr carries bwrap's errors and the agent's diagnostics.
 */
export class BwrapProcess {
  readonly transport: AgentTransport;
  /** Settles once the chain has exited and its pipes are closed. */
  readonly exited: Promise<{ code: number | null; signal: string | null; spawnError?: Error }>;
  /** bwrap's child: pid 1 of the sandbox's pid namespace, once bwrap reports it. */
  sandboxPid: number | undefined;
  private stderrText = '';
  private readonly child: ChildProcess;

  constructor(private readonly o: SpawnOptions) {
    this.child = spawn(o.chain.file, o.chain.args, {
      cwd: '/',
      env: o.env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', o.block ? 'pipe' : 'ignore', o.seccompFd],
      ...(o.chain.uid !== undefined ? { uid: o.chain.uid, gid: o.chain.gid } : {}),
    });
    const child = this.child;
    this.transport = { readable: child.stdout!, writable: child.stdin! };
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderrText.length < STDERR_KEEP) this.stderrText += chunk.toString('utf8', 0, STDERR_KEEP - this.stderrText.length);
      o.onStderr?.(chunk);
    });
    child.stderr!.on('error', () => undefined);
    // Writes to a process that already died must not crash the runner.
    child.stdin!.on('error', () => undefined);
    (child.stdio[BLOCK_FD] as Writable | null)?.on('error', () => undefined);
    this.watchStatus(child.stdio[STATUS_FD] as Readable);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Whether bwrap got as far as reporting its child (so the sandbox was set up). */
  get started(): boolean {
    return this.sandboxPid !== undefined;
  }

  /** The first few KiB of stderr. */
  get stderr(): string {
    return this.stderrText;
  }

  /** bwrap's --json-status-fd tells us the sandbox's pid before the agent runs. */
  private watchStatus(stream: Readable): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      buffered += text;
      const m = /"child-pid"\s*:\s*(\d+)/.exec(buffered);
      if (!m || this.sandboxPid !== undefined) return;
      this.sandboxPid = Number(m[1]);
      if (this.killed) return this.kill();
      const enter = this.o.onChildPid;
      if (!enter) return;
      enter(this.sandboxPid).then(
        () => (this.child.stdio[BLOCK_FD] as Writable).end('go'),
        () => this.kill(),
      );
    });
    stream.on('error', () => undefined);
    // Only bwrap's outer process (and the links above it) hold this fd; its child closes it
    // right after the clone. So at its end every report has been read, and a child never
    // reported was cloned by a bwrap that then failed (e.g. EMFILE opening /proc/PID/ns
    // under a small RLIMIT_NOFILE) and waits forever for a go it will never get,
    // orphaned, holding our pipes.
    stream.once('close', () => {
      if (this.sandboxPid === undefined) this.o.onLostChild?.();
    });
  }

  private killed = false;

  /**
   * SIGKILLs the sandbox's PID 1, whose death takes every process of its pid namespace with it;
   * bwrap reaps it and exits (killed first, bwrap would leave it to the host's init, a zombie
   * for as long as that takes to reap: seconds here, forever where there is none). bwrap is
   * killed too if it has not exited a moment later. Before bwrap reported its child, that child
   * is not bound by --die-with-parent, and a bwrap killed then would leave it behind, blocked
   * and holding our pipes: so it is found and killed directly, and bwrap with it.
   */
  kill(): void {
    this.killed = true;
    const pid = this.child.pid;
    if (this.sandboxPid !== undefined) {
      trySigkill(this.sandboxPid);
      if (this.alive) setTimeout(() => this.alive && this.child.kill('SIGKILL'), BWRAP_EXIT_MS).unref();
      return;
    }
    if (pid !== undefined && this.alive) {
      for (const c of stoppedChildrenOf(pid)) trySigkill(c);
    }
    this.child.kill('SIGKILL');
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
 * bwrap's child keeps the environment Paddock gave the chain until it execs the agent, and
 * the agent is given the marker again (nothing it starts inherits it). Reads /proc, so it is
 * for failure paths only.
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
