import { seesAllJobs } from '../auth/ownership.js';
import type { Principal } from '../auth/tokens.js';
import type { AgentClient } from '../sandbox/agent/agent-client.js';
import type { Sandbox } from '../sandbox/driver.js';
import type { SandboxRow } from '../store/store.js';
import type { ExecRun } from './exec-run.js';

/** Ended execs kept per sandbox for GET …/execs/:id; the oldest go first. */
const KEPT_EXECS = 64;
/** Of those, the newest that keep their output (at most `limits.output_bytes` per stream each); older ones keep the rest. */
const KEPT_OUTPUTS = 8;

/** Whether this principal may see a sandbox: its own token's, or any for an admin. */
export const owns = (p: Principal | undefined, row: Pick<SandboxRow, 'token_id'>): boolean =>
  seesAllJobs(p) || (p !== undefined && row.token_id === p.tokenId);

/**
 * A sandbox this runner holds: the driver's handle, its agent, its execs, and the
 * row as it is now (the store gets timestamps lazily, see SandboxService.touch).
 * `row` is the truth for a live sandbox; the store's copy is for after it ends.
 */
export class LiveSandbox {
  readonly execs = new Map<string, ExecRun>();
  /** Execs running now (capped by sandboxes.max_execs). */
  running = 0;
  /**
   * What a client waits on now (file operations, execs not detached): it keeps the
   * sandbox from being idle. A detached exec does not, or a forgotten background
   * process would hold a sandbox until its max lifetime.
   */
  busy = 0;
  /** Set once the end began; the promise settles when it is recorded. */
  ending: Promise<void> | undefined;
  saving: Promise<void> | undefined;
  dirty = false;

  constructor(
    public row: SandboxRow,
    readonly sandbox: Sandbox,
    readonly agent: AgentClient,
  ) {}

  get id(): string {
    return this.row.id;
  }

  /** Starts the idle TTL again from now. */
  touch(now = Date.now()): void {
    this.row = {
      ...this.row,
      last_used_at: new Date(now).toISOString(),
      expires_at: new Date(now + this.row.spec.timeout_ms).toISOString(),
    };
  }

  /** Why the sweeper should end it now, if it should. A sandbox a client waits on is not idle. */
  due(now = Date.now()): 'max_lifetime' | 'idle_timeout' | undefined {
    if (now >= Date.parse(this.row.max_lifetime_at)) return 'max_lifetime';
    if (this.busy === 0 && now >= Date.parse(this.row.expires_at)) return 'idle_timeout';
    return undefined;
  }

  addExec(run: ExecRun): void {
    this.execs.set(run.id, run);
    this.retain();
  }

  /**
   * Bounds what ended execs hold: at most KEPT_EXECS of them, and output only in
   * the newest KEPT_OUTPUTS, so a sandbox's memory for old results stays a few MiB.
   */
  retain(): void {
    for (const [id, old] of this.execs) {
      if (this.execs.size <= KEPT_EXECS) break;
      if (old.ended) this.execs.delete(id);
    }
    let withOutput = 0;
    for (const run of [...this.execs.values()].reverse()) {
      if (!run.ended || !run.holdsOutput) continue;
      if (++withOutput > KEPT_OUTPUTS) run.dropOutput();
    }
  }
}
