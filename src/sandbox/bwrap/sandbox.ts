import { PaddockError } from '../../errors.js';
import { AgentError } from '../agent/errors.js';
import type { AgentClient } from '../agent/agent-client.js';
import { execOnAgent, type HostAccounting, watchAbort } from '../agent-exec.js';
import type { ExecRequest, ExecResult, OutputSink, Sandbox, SandboxSpec } from '../driver.js';
import { sandboxPath } from './args.js';
import { type Box, limitTooSmall } from './box.js';
import type { CgroupV1 } from './cgroup.js';
import { execRlimits } from './chain.js';
import { assertUsable } from '../inputs.js';

/** An aborted command whose agent has not answered by then (a hung sandbox): the sandbox is killed. */
const ABORT_GRACE_MS = 3000;

/**
 * A started bwrap sandbox whose agent (PID 1) runs every command of it: any number of execs,
 * also at once, until `destroy`. The job's end, exit status and output come over the agent's
 * pipes, which the job can neither read nor write (the agent is non-dumpable, PID 1 of the
 * sandbox's pid namespace; docs/agent-protocol.md). With cgroups, CPU time, peak memory and
 * OOM kills come from the sandbox's cgroup; without, from the agent's wait4 of each command.
 */
export class BwrapSandbox implements Sandbox {
  readonly agent: AgentClient;
  readonly died: Promise<string>;
  private destroyed = false;
  private paused = false;
  /** Set once the sandbox is gone, with why: an exec from then on fails. */
  private death: string | undefined;
  private inputs: Promise<void> | undefined;

  constructor(
    readonly id: string,
    private readonly box: Box,
    private readonly spec: SandboxSpec,
    private readonly cgroup: CgroupV1 | undefined,
    private readonly release: () => Promise<void>,
    /** Called once the first command is on its way to the agent (the driver refills its pool then). */
    private onFirstExec: (() => void) | undefined = undefined,
  ) {
    this.agent = box.agent;
    box.ctx.sandboxId = id;
    const gone = box.gone.then((why) => {
      this.death = why;
      return why;
    });
    this.died = gone.then((why) => (this.destroyed ? new Promise<string>(() => undefined) : why));
  }

  /** The marker in the environment of this sandbox's bwrap and agent (tests look for leftovers by it). */
  get marker(): string {
    return this.box.id;
  }

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    this.usable();
    if (this.paused) throw new PaddockError('conflict', `sandbox ${this.id} is paused`);
    await this.writeInputs();
    const cgroup = this.cgroup;
    const boxId = this.box.id;
    // OOM kills before this command (an earlier one's) are not its: counted from the first read.
    let oomBefore: number | undefined;
    const accounting: HostAccounting | undefined = cgroup && {
      stats: () => {
        const s = cgroup.stats(boxId);
        oomBefore ??= s.oomKills;
        return { cpuMs: s.cpuMs, maxRssKb: s.maxRssKb, oomKilled: s.oomKills > oomBefore };
      },
    };
    // The agent kills the command's group on an abort; a sandbox whose agent cannot answer is
    // killed. A paused one cannot answer until it is resumed, and is not killed for that.
    const unwatch = watchAbort(signal, {
      graceMs: ABORT_GRACE_MS,
      paused: () => this.paused,
      kill: () => this.box.kill(`Paddock killed the sandbox: its agent did not answer an abort within ${ABORT_GRACE_MS} ms`),
    });
    try {
      // PWD as bwrap's --chdir used to set it (the agent sets exactly the env it is given).
      const env = 'PWD' in req.env ? req.env : { ...req.env, PWD: req.cwd };
      const result = execOnAgent(this.agent, { ...req, env }, sink, signal, {
        limits: this.spec.limits,
        accounting,
        rlimits: execRlimits(this.spec.limits, Boolean(cgroup), req.limits),
        // The cgroup outlives its processes until destroy, so it can still be asked.
        diedOfMemory: async () => (cgroup?.stats(boxId).oomKills ?? 0) > (oomBefore ?? 0),
      });
      this.onFirstExec?.();
      this.onFirstExec = undefined;
      return await result;
    } catch (err) {
      throw await this.failure(err);
    } finally {
      unwatch();
    }
  }

  /** Freezes every process of the sandbox (cgroup v1 freezer); execs fail with `conflict` until resume. */
  async pause(): Promise<void> {
    const cgroup = this.freezer();
    if (this.paused) return;
    await this.freeze(cgroup, true);
    this.paused = true;
  }

  async resume(): Promise<void> {
    const cgroup = this.freezer();
    if (!this.paused) return;
    await this.freeze(cgroup, false);
    this.paused = false;
  }

  private freezer(): CgroupV1 {
    if (!this.cgroup?.freezer) {
      throw new PaddockError('driver_unavailable', 'driver bwrap pauses sandboxes only with the cgroup v1 freezer (as root)', { driver: 'bwrap' });
    }
    this.usable();
    return this.cgroup;
  }

  private async freeze(cgroup: CgroupV1, frozen: boolean): Promise<void> {
    await cgroup.setFrozen(this.box.id, frozen).catch((err: Error) => {
      throw new PaddockError('driver_error', `cannot ${frozen ? 'pause' : 'resume'} sandbox ${this.id}: ${err.message}`);
    });
  }

  /**
   * Kills every process of the sandbox at once; removing its cgroup and giving its uid back
   * once they are gone is off the caller's path (a job's result does not wait for it; the
   * driver's close does). Idempotent.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.box.kill('destroyed');
    void this.release();
  }

  private usable(): void {
    assertUsable(this.id, this.destroyed, this.death);
  }

  /**
   * The spec's files, written by the agent before the first command runs (once, whatever runs
   * at once); one after another, as each holds an fd of the agent's, which open_files bounds.
   */
  private writeInputs(): Promise<void> {
    this.inputs ??= (async () => {
      for (const f of this.spec.files) {
        let target: string;
        try {
          target = sandboxPath(f.path);
        } catch (err) {
          throw new PaddockError('validation_failed', `file path ${JSON.stringify(f.path)}: ${(err as Error).message}`);
        }
        await this.agent.writeFile(target, f.content, { mode: f.mode ?? 0o644, mkdirs: true }).catch((err: unknown) => {
          // The agent refusing a file (no space within disk_mb, …) is the input's fault, not the driver's.
          if (err instanceof AgentError) {
            throw limitTooSmall(err.message, this.spec.limits, 'write input files') ?? new PaddockError('validation_failed', `cannot write input file ${f.path}: ${err.message}`);
          }
          throw err;
        });
      }
    })();
    return this.inputs.catch(async (err: unknown) => {
      throw await this.failure(err);
    });
  }

  /** A lost agent connection is the driver's failure, named by what happened to the sandbox. */
  private async failure(err: unknown): Promise<unknown> {
    // An agent that cannot start the command for lack of fds or processes: the sandbox's limits are too small.
    if (err instanceof AgentError) return limitTooSmall(err.message, this.spec.limits, 'run a command in this sandbox') ?? err;
    if (!(err instanceof PaddockError) || (err.code !== 'agent_died' && err.code !== 'agent_protocol_error')) return err;
    const why = await this.box.gone;
    if (this.destroyed) return new PaddockError('driver_error', `sandbox ${this.id} was destroyed under the command`);
    return new PaddockError('driver_error', `the sandbox died under the command: ${why}`, undefined, { cause: err });
  }
}
