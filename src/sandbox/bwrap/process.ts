import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AgentTransport } from '../agent/session.js';
import type { Chain } from './chain.js';
import type { Spawner } from './spawner.js';

/** bwrap's --json-status-fd and --block-fd, and the seccomp program, as the child sees them (spawner/main.go). */
export const STATUS_FD = 3;
export const BLOCK_FD = 4;
export const SECCOMP_FD = 5;

/** What is kept of the chain's stderr (bwrap's errors, then the agent's diagnostics) to say why a start failed. */
const STDERR_KEEP = 4096;
/** How long bwrap gets to reap its killed child and exit before it is killed as well. */
const BWRAP_EXIT_MS = 1000;

export interface SpawnOptions {
  spawner: Spawner;
  chain: Chain;
  /** The host environment of the chain: bwrap keeps it until it execs the agent (--clearenv). */
  env: Record<string, string>;
  seccompFile: string;
  /** Hold bwrap's child on its block fd until `onChildPid` has resolved (it enters the cgroup meanwhile). */
  block: boolean;
  onChildPid?: ((pid: number) => Promise<void>) | undefined;
  /** bwrap's status fd closed before it named its child: that child may be left behind. */
  onLostChild?: (() => void) | undefined;
  /** Every chunk of stderr, for the bounded diagnostics log. */
  onStderr?: ((chunk: Buffer) => void) | undefined;
}

type Exit = { code: number | null; signal: string | null; spawnError?: Error };

/**
 * One long-lived bwrap whose child, the sandbox's PID 1, is the agent: its stdin and
 * stdout are the agent's channel (a connection of the spawner's socket), stderr carries
 * bwrap's errors and the agent's diagnostics.
 */
export class BwrapProcess {
  /** The agent's channel, once the spawner has connected it; rejects if bwrap never started. */
  readonly transport: Promise<AgentTransport>;
  /** Settles once bwrap has exited and its stderr and status fd are closed. */
  readonly exited: Promise<Exit>;
  /** bwrap's child: pid 1 of the sandbox's pid namespace, once bwrap reports it. */
  sandboxPid: number | undefined;
  /** bwrap's own pid, once the spawner reports it. */
  pid: number | undefined;
  private exit: Exit | undefined;
  private stderrText = '';
  private status = '';
  private spawnId: Promise<string>;
  private killed = false;

  constructor(private readonly o: SpawnOptions) {
    let resolveExited!: (e: Exit) => void;
    let resolveChannel!: (t: AgentTransport) => void;
    let rejectChannel!: (e: Error) => void;
    this.exited = new Promise((r) => (resolveExited = r));
    this.transport = new Promise((resolve, reject) => {
      resolveChannel = resolve;
      rejectChannel = reject;
    });
    this.transport.catch(() => undefined);
    this.spawnId = o.spawner.spawn(
      {
        file: o.chain.file,
        args: o.chain.args,
        env: o.env,
        uid: o.chain.uid,
        gid: o.chain.gid,
        seccompFile: o.seccompFile,
        block: o.block,
      },
      {
        onPid: (pid) => {
          this.pid = pid;
          if (this.killed) this.kill();
        },
        onChannel: (socket) => {
          // Writes to a process that already died must not crash the runner.
          socket.on('error', () => undefined);
          if (this.exit) return void socket.destroy(); // too late: the start already failed
          resolveChannel({ readable: socket, writable: socket });
        },
        onStatus: (text) => this.onStatus(text),
        onStatusEnd: () => {
          // Only bwrap's outer process holds this fd; its child closes it right after the clone.
          // So at its end every report has been read, and a child never reported was cloned by a
          // bwrap that then failed and waits forever for a go it will never get, orphaned,
          // holding its stderr.
          if (this.sandboxPid === undefined) this.o.onLostChild?.();
        },
        onStderr: (text) => {
          if (this.stderrText.length < STDERR_KEEP) this.stderrText += text.slice(0, STDERR_KEEP - this.stderrText.length);
          o.onStderr?.(Buffer.from(text));
        },
        onExit: (code, signal, error) => {
          this.exit = error && this.pid === undefined ? { code, signal, spawnError: error } : { code, signal };
          // The channel is left to end by itself: what the agent wrote before it died is still read.
          rejectChannel(error ?? new Error(`bwrap exited (${signal ?? `status ${code}`}) before its agent connected`));
          resolveExited(this.exit);
        },
      },
    );
    this.spawnId.catch((err: Error) => {
      this.exit = { code: null, signal: null, spawnError: err };
      rejectChannel(err);
      resolveExited(this.exit);
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
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
  private onStatus(text: string): void {
    if (this.sandboxPid !== undefined) return;
    this.status = (this.status + text).slice(-4096);
    const m = /"child-pid"\s*:\s*(\d+)/.exec(this.status);
    if (!m) return;
    this.sandboxPid = Number(m[1]);
    if (this.killed) return this.kill();
    const enter = this.o.onChildPid;
    if (!enter) return;
    enter(this.sandboxPid).then(
      () => this.spawnId.then((id) => this.o.spawner.unblock(id)),
      () => this.kill(),
    );
  }

  /**
   * SIGKILLs the sandbox's PID 1, whose death takes every process of its pid namespace with it;
   * bwrap reaps it and exits (killed first, bwrap would leave it to the host's init, a zombie
   * for as long as that takes to reap: seconds here, forever where there is none). bwrap is
   * killed too if it has not exited a moment later. Before bwrap reported its child, that child
   * is not bound by --die-with-parent, and a bwrap killed then would leave it behind, blocked
   * and holding its stderr: so it is found and killed directly, and bwrap with it. Before the
   * spawner named bwrap's pid, it is killed once the pid comes.
   */
  kill(): void {
    this.killed = true;
    const pid = this.pid;
    if (pid === undefined || !this.alive) return;
    if (this.sandboxPid !== undefined) {
      trySigkill(this.sandboxPid);
      setTimeout(() => this.alive && trySigkill(pid), BWRAP_EXIT_MS).unref();
      return;
    }
    for (const c of stoppedChildrenOf(pid)) trySigkill(c);
    trySigkill(pid);
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
